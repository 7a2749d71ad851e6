// Drives the simulated cloud with gophercloud v2, making the calls the terraform-based
// pulumi-openstack provider makes for relval's resources. Exits 1 on the first surprise.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servergroups"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/tags"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/applicationcredentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/attributestags"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
)

var ctx = context.Background()

func must(what string, err error) {
	if err != nil {
		fmt.Printf("FAIL %s: %v\n", what, err)
		os.Exit(1)
	}
	fmt.Printf("ok   %s\n", what)
}

func expect(what string, ok bool) {
	if !ok {
		fmt.Printf("FAIL %s\n", what)
		os.Exit(1)
	}
	fmt.Printf("ok   %s\n", what)
}

func waitFor(what string, check func() (bool, error)) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		done, err := check()
		if err != nil {
			must(what, err)
		}
		if done {
			fmt.Printf("ok   %s\n", what)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	must(what, fmt.Errorf("timed out"))
}

func gone(err error) (bool, error) {
	if gophercloud.ResponseCodeIs(err, 404) {
		return true, nil
	}
	return false, err
}

func main() {
	// As the terraform provider reads them: user and project domains from their own variables.
	opts := gophercloud.AuthOptions{IdentityEndpoint: os.Getenv("OS_AUTH_URL"),
		Username: os.Getenv("OS_USERNAME"), Password: os.Getenv("OS_PASSWORD"),
		DomainName: os.Getenv("OS_USER_DOMAIN_NAME"), TenantName: os.Getenv("OS_PROJECT_NAME")}
	provider, err := openstack.AuthenticatedClient(ctx, opts)
	must("authenticate (password)", err)
	eo := gophercloud.EndpointOpts{Region: os.Getenv("OS_REGION_NAME")}
	compute, err := openstack.NewComputeV2(provider, eo)
	must("compute client", err)
	network, err := openstack.NewNetworkV2(provider, eo)
	must("network client (version discovery)", err)
	volumeClient, err := openstack.NewBlockStorageV3(provider, eo)
	must("block-storage v3 client", err)
	imageClient, err := openstack.NewImageV2(provider, eo)
	must("image v2 client (version discovery)", err)
	identity, err := openstack.NewIdentityV3(provider, eo)
	must("identity v3 client", err)

	// get_network(name=...), as the stack's program invokes it.
	pages, err := networks.List(network, networks.ListOpts{Name: "relval-net", Status: "ACTIVE"}).AllPages(ctx)
	must("list networks by name", err)
	nets, err := networks.ExtractNetworks(pages)
	must("extract networks", err)
	expect("one network named relval-net", len(nets) == 1)
	netID := nets[0].ID

	group, err := groups.Create(ctx, network, groups.CreateOpts{Name: "alice-cluster", Description: "d"}).Extract()
	must("create security group", err)
	_, err = attributestags.ReplaceAll(ctx, network, "security-groups", group.ID, attributestags.ReplaceAllOpts{Tags: []string{"relval-stack=alice"}}).Extract()
	must("tag security group", err)
	ruleOpts := rules.CreateOpts{Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortRangeMin: 9618, PortRangeMax: 9618, RemoteGroupID: group.ID, SecGroupID: group.ID}
	rule, err := rules.Create(ctx, network, ruleOpts).Extract()
	must("create condor rule", err)
	_, err = rules.Create(ctx, network, ruleOpts).Extract()
	expect("duplicate rule is 409", gophercloud.ResponseCodeIs(err, 409))
	_, err = rules.Create(ctx, network, rules.CreateOpts{Direction: "ingress", EtherType: "IPv4", Protocol: "icmp", RemoteGroupID: group.ID, SecGroupID: group.ID}).Extract()
	must("create icmp rule", err)
	_, err = rules.Create(ctx, network, rules.CreateOpts{Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortRangeMin: 22, PortRangeMax: 22, RemoteIPPrefix: "137.138.0.0/16", SecGroupID: group.ID}).Extract()
	must("create ssh rule", err)
	_, err = rules.Get(ctx, network, rule.ID).Extract()
	must("read rule", err)

	compute.Microversion = "2.10"
	kp, err := keypairs.Create(ctx, compute, keypairs.CreateOpts{Name: "alice-key", PublicKey: os.Getenv("SIM_PUBLIC_KEY")}).Extract()
	must("import keypair at 2.10", err)
	_, err = keypairs.Get(ctx, compute, kp.Name, keypairs.GetOpts{}).Extract()
	must("read keypair", err)
	compute.Microversion = ""

	// The provider first tries `policy` at the base microversion, then falls back.
	_, err = servergroups.Create(ctx, compute, servergroups.CreateOpts{Name: "alice-workers", Policy: "anti-affinity"}).Extract()
	expect("policy at 2.1 refused (400)", gophercloud.ResponseCodeIs(err, 400))
	sg, err := servergroups.Create(ctx, compute, servergroups.CreateOpts{Name: "alice-workers", Policies: []string{"anti-affinity"}}).Extract()
	must("create server group (policies)", err)
	compute.Microversion = "2.64"
	sgRead, err := servergroups.Get(ctx, compute, sg.ID).Extract()
	must("read server group at 2.64", err)
	expect("2.64 has policy", sgRead.Policy != nil && *sgRead.Policy == "anti-affinity")
	compute.Microversion = ""

	port, err := ports.Create(ctx, network, ports.CreateOpts{Name: "alice-head", NetworkID: netID, SecurityGroups: &[]string{group.ID}}).Extract()
	must("create port", err)
	_, err = attributestags.ReplaceAll(ctx, network, "ports", port.ID, attributestags.ReplaceAllOpts{Tags: []string{"relval-stack=alice"}}).Extract()
	must("tag port", err)
	portPages, err := ports.List(network, ports.ListOpts{ID: port.ID}).AllPages(ctx)
	must("list ports by id", err)
	portList, err := ports.ExtractPorts(portPages)
	must("extract ports", err)
	expect("port found with fixed ip", len(portList) == 1 && len(portList[0].FixedIPs) == 1)

	vol, err := volumes.Create(ctx, volumeClient, volumes.CreateOpts{Size: 10, Name: "alice-head-data", VolumeType: "standard", Metadata: map[string]string{"relval-mount": "/data"}}, nil).Extract()
	must("create volume", err)
	waitFor("volume available", func() (bool, error) {
		v, err := volumes.Get(ctx, volumeClient, vol.ID).Extract()
		return err == nil && v.Status == "available", err
	})

	flavorPages, err := flavors.ListDetail(compute, flavors.ListOpts{}).AllPages(ctx)
	must("list flavors (detail)", err)
	allFlavors, err := flavors.ExtractFlavors(flavorPages)
	must("extract flavors", err)
	flavorID := ""
	for _, f := range allFlavors {
		if f.Name == "m1.small" {
			flavorID = f.ID
		}
	}
	expect("flavor m1.small by name", flavorID != "")
	imagePages, err := images.List(imageClient, images.ListOpts{Name: "alma9"}).AllPages(ctx)
	must("list images by name", err)
	imgs, err := images.ExtractImages(imagePages)
	must("extract images", err)
	expect("one image alma9", len(imgs) == 1)

	create := keypairs.CreateOptsExt{
		CreateOptsBuilder: servers.CreateOpts{Name: "alice-head", ImageRef: imgs[0].ID, FlavorRef: flavorID,
			Networks: []servers.Network{{Port: port.ID}}, Metadata: map[string]string{"relval-stack": "alice"},
			UserData: []byte("#cloud-config\n")},
		KeyName: kp.Name,
	}
	server, err := servers.Create(ctx, compute, create, servers.SchedulerHintOpts{Group: sg.ID}).Extract()
	must("create server", err)
	waitFor("server ACTIVE", func() (bool, error) {
		s, err := servers.Get(ctx, compute, server.ID).Extract()
		return err == nil && s.Status == "ACTIVE", err
	})
	got, err := servers.Get(ctx, compute, server.ID).Extract()
	must("read server", err)
	expect("server has an address on relval-net", len(got.Addresses["relval-net"].([]any)) == 1)
	_, err = flavors.Get(ctx, compute, got.Flavor["id"].(string)).Extract()
	must("read server's flavor by id (2.1 shape)", err)
	_, err = images.Get(ctx, imageClient, got.Image["id"].(string)).Extract()
	must("read server's image", err)
	compute.Microversion = "2.26"
	_, err = tags.List(ctx, compute, server.ID).Extract()
	must("list server tags at 2.26", err)
	compute.Microversion = ""

	att, err := volumeattach.Create(ctx, compute, server.ID, volumeattach.CreateOpts{VolumeID: vol.ID}).Extract()
	must("attach volume", err)
	_, err = volumeattach.Get(ctx, compute, server.ID, att.ID).Extract()
	must("read attachment", err)
	waitFor("volume in-use", func() (bool, error) {
		v, err := volumes.Get(ctx, volumeClient, vol.ID).Extract()
		return err == nil && v.Status == "in-use" && len(v.Attachments) == 1, err
	})

	pools, err := networks.List(network, networks.ListOpts{Name: "public"}).AllPages(ctx)
	must("find pool network", err)
	poolNets, _ := networks.ExtractNetworks(pools)
	fip, err := floatingips.Create(ctx, network, floatingips.CreateOpts{FloatingNetworkID: poolNets[0].ID, Description: "head"}).Extract()
	must("create floating ip", err)
	fipPages, err := floatingips.List(network, floatingips.ListOpts{FloatingIP: fip.FloatingIP}).AllPages(ctx)
	must("find floating ip by address", err)
	found, _ := floatingips.ExtractFloatingIPs(fipPages)
	expect("one floating ip by address", len(found) == 1)
	_, err = floatingips.Update(ctx, network, fip.ID, floatingips.UpdateOpts{PortID: &port.ID}).Extract()
	must("associate floating ip", err)

	user, err := provider.GetAuthResult().(tokens.CreateResult).ExtractUser()
	must("user from token", err)
	cred, err := applicationcredentials.Create(ctx, identity, user.ID, applicationcredentials.CreateOpts{Name: "alice-autoscaler", Unrestricted: false}).Extract()
	must("create application credential", err)
	_, err = applicationcredentials.Get(ctx, identity, user.ID, cred.ID).Extract()
	must("read application credential", err)
	credProvider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{IdentityEndpoint: opts.IdentityEndpoint, ApplicationCredentialID: cred.ID, ApplicationCredentialSecret: cred.Secret})
	must("authenticate (application credential)", err)
	credCompute, err := openstack.NewComputeV2(credProvider, eo)
	must("compute client via application credential", err)
	lim, err := limits.Get(ctx, credCompute, limits.GetOpts{}).Extract()
	must("limits", err)
	expect("limits count the server", lim.Absolute.TotalInstancesUsed == 1 && lim.Absolute.MaxServerGroupMembers == 10)

	// Destroy, in the order the engine would.
	must("delete application credential", applicationcredentials.Delete(ctx, identity, user.ID, cred.ID).ExtractErr())
	var none *string
	_, err = floatingips.Update(ctx, network, fip.ID, floatingips.UpdateOpts{PortID: none}).Extract()
	must("disassociate floating ip", err)
	must("delete floating ip", floatingips.Delete(ctx, network, fip.ID).ExtractErr())
	must("detach volume", volumeattach.Delete(ctx, compute, server.ID, att.ID).ExtractErr())
	waitFor("attachment gone", func() (bool, error) {
		_, err := volumeattach.Get(ctx, compute, server.ID, att.ID).Extract()
		return gone(err)
	})
	must("delete volume", volumes.Delete(ctx, volumeClient, vol.ID, volumes.DeleteOpts{}).ExtractErr())
	must("delete server", servers.Delete(ctx, compute, server.ID).ExtractErr())
	waitFor("server gone", func() (bool, error) {
		_, err := servers.Get(ctx, compute, server.ID).Extract()
		return gone(err)
	})
	waitFor("volume gone", func() (bool, error) {
		_, err := volumes.Get(ctx, volumeClient, vol.ID).Extract()
		return gone(err)
	})
	must("delete port", ports.Delete(ctx, network, port.ID).ExtractErr())
	must("delete server group", servergroups.Delete(ctx, compute, sg.ID).ExtractErr())
	must("delete keypair", keypairs.Delete(ctx, compute, kp.Name, keypairs.DeleteOpts{}).ExtractErr())
	must("delete security group", groups.Delete(ctx, network, group.ID).ExtractErr())
	fmt.Println("PASS gophercloud drove the simulated cloud")
}

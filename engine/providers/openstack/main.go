// The openstack resource plugin that `make engine` builds for relval.
//
// The pulumi-openstack provider module is not served by the Go module proxy this project
// reaches, so this bridges the same Terraform provider it wraps
// (terraform-provider-openstack v3.4.0, through pulumi-terraform-bridge and Pulumi's fork of
// terraform-plugin-sdk) under pulumi-openstack's own type tokens. Only the tokens relval's
// program declares are mapped; property names are the bridge's, which are also the ones
// pulumi-openstack publishes (tests/test_engine.py checks them against its schema).
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/terraform-provider-openstack/terraform-provider-openstack/v3/openstack"
)

// Set with -ldflags -X at build time: the pulumi-openstack release this stands in for.
var Version = "0.0.0-dev"

// Terraform resource name -> pulumi-openstack type token.
var resources = map[string]string{
	"openstack_blockstorage_volume_v3":             "openstack:blockstorage/volume:Volume",
	"openstack_compute_instance_v2":                "openstack:compute/instance:Instance",
	"openstack_compute_keypair_v2":                 "openstack:compute/keypair:Keypair",
	"openstack_compute_servergroup_v2":             "openstack:compute/serverGroup:ServerGroup",
	"openstack_compute_volume_attach_v2":           "openstack:compute/volumeAttach:VolumeAttach",
	"openstack_identity_application_credential_v3": "openstack:identity/applicationCredential:ApplicationCredential",
	"openstack_networking_floatingip_v2":           "openstack:networking/floatingIp:FloatingIp",
	"openstack_networking_floatingip_associate_v2": "openstack:networking/floatingIpAssociate:FloatingIpAssociate",
	"openstack_networking_port_v2":                 "openstack:networking/port:Port",
	"openstack_networking_secgroup_v2":             "openstack:networking/secGroup:SecGroup",
	"openstack_networking_secgroup_rule_v2":        "openstack:networking/secGroupRule:SecGroupRule",
}

var dataSources = map[string]string{
	"openstack_compute_keypair_v2":    "openstack:compute/getKeypair:getKeypair",
	"openstack_compute_flavor_v2":     "openstack:compute/getFlavor:getFlavor",
	"openstack_images_image_v2":       "openstack:images/getImage:getImage",
	"openstack_networking_network_v2": "openstack:networking/getNetwork:getNetwork",
}

func providerInfo() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:           shimv2.NewProvider(openstack.Provider()),
		Name:        "openstack",
		Version:     Version,
		Resources:   map[string]*tfbridge.ResourceInfo{},
		DataSources: map[string]*tfbridge.DataSourceInfo{},
	}
	for tf, tok := range resources {
		info.Resources[tf] = &tfbridge.ResourceInfo{Tok: tokens.Type(tok)}
	}
	for tf, tok := range dataSources {
		info.DataSources[tf] = &tfbridge.DataSourceInfo{Tok: tokens.ModuleMember(tok)}
	}
	return info
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--emit-schema" {
		if err := emitSchema(); err != nil {
			fmt.Fprintln(os.Stderr, "pulumi-resource-openstack --emit-schema:", err)
			os.Exit(1)
		}
		return
	}
	tfbridge.Main("openstack", Version, providerInfo(), minimalSchema("openstack", Version))
}

// minimalSchema is what GetSchema answers: relval's program uses the published Python SDK,
// so the engine needs the package's name and version, not a schema for code generation.
func minimalSchema(name, version string) []byte {
	b, _ := json.Marshal(map[string]string{"name": name, "version": version})
	return b
}

// emitSchema prints the package schema of the mapped resources, as tfgen generates
// pulumi-openstack's own from the same Terraform provider (with its autonaming, which makes
// `name` optional). `make engine` writes it to .tools/pulumi/schema/ for relval's offline
// check of what the program declares (infra/provider_schema.py). GetSchema keeps answering
// the minimal schema: generating this one costs every plugin start ~0.15 s.
func emitSchema() error {
	info := providerInfo()
	info.SetAutonaming(255, "-")
	tf := openstack.Provider()
	for name := range tf.ResourcesMap {
		if _, ok := resources[name]; !ok {
			info.IgnoreMappings = append(info.IgnoreMappings, name)
		}
	}
	for name := range tf.DataSourcesMap {
		if _, ok := dataSources[name]; !ok {
			info.IgnoreMappings = append(info.IgnoreMappings, name)
		}
	}
	sink := diag.DefaultSink(os.Stderr, os.Stderr, diag.FormatOptions{Color: colors.Never})
	result, err := tfgen.GenerateSchemaWithOptions(tfgen.GenerateSchemaOptions{
		ProviderInfo: info, DiagnosticsSink: sink, XInMemoryDocs: true})
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(result.PackageSpec, "", "  ")
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(out, '\n'))
	return err
}

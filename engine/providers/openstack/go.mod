module relval.local/pulumi-resource-openstack

go 1.25

require (
	github.com/pulumi/pulumi-terraform-bridge/v3 v3.120.0
	github.com/terraform-provider-openstack/terraform-provider-openstack/v3 v3.4.0
)

// As in pulumi-openstack's own go.mod: the bridge needs Pulumi's fork of the plugin SDK.
replace github.com/hashicorp/terraform-plugin-sdk/v2 => github.com/pulumi/terraform-plugin-sdk/v2 v2.0.0-20260318212141-5525259d096b

module relval.local/pulumi-resource-random

go 1.25

require (
	github.com/pulumi/pulumi-terraform-bridge/v3 v3.120.0
	github.com/terraform-providers/terraform-provider-random v1.3.2-0.20260824155315-e1092b0cfc07
	github.com/terraform-providers/terraform-provider-random/shim v0.0.0
)

replace (
	// The provider's go.mod names it terraform-providers/...; the proxy serves it as hashicorp/...
	github.com/terraform-providers/terraform-provider-random => github.com/hashicorp/terraform-provider-random v1.3.2-0.20260824155315-e1092b0cfc07
	github.com/terraform-providers/terraform-provider-random/shim => ./shim
	github.com/hashicorp/terraform-plugin-sdk/v2 => github.com/pulumi/terraform-plugin-sdk/v2 v2.0.0-20260318212141-5525259d096b
)

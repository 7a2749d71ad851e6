module relval.local/pulumi-resource-tls

go 1.25

require (
	github.com/hashicorp/terraform-provider-tls v1.2.1-0.20260819085117-d044ca7c6f52
	github.com/hashicorp/terraform-provider-tls/shim v0.0.0
	github.com/pulumi/pulumi-terraform-bridge/v3 v3.120.0
)

replace (
	github.com/hashicorp/terraform-provider-tls/shim => ./shim
	github.com/hashicorp/terraform-plugin-sdk/v2 => github.com/pulumi/terraform-plugin-sdk/v2 v2.0.0-20260318212141-5525259d096b
)

// The tls resource plugin that `make engine` builds for relval.
//
// pulumi-tls's provider module is not served by the Go module proxy this project reaches,
// so this bridges the same Terraform provider (a plugin-framework provider, reached through
// ./shim) under pulumi-tls's type tokens, for the resources relval's program declares.
package main

import (
	"context"
	"encoding/json"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	"github.com/hashicorp/terraform-provider-tls/shim"
)

// Set with -ldflags -X at build time: the pulumi-tls release this stands in for.
var Version = "0.0.0-dev"

func main() {
	info := tfbridge.ProviderInfo{
		P:       pftfbridge.ShimProvider(shim.NewProvider()),
		Name:    "tls",
		Version: Version,
		// The plugin-framework bridge insists on metadata; tfgen would fill it with
		// renames and auto-aliases, none of which apply to the resources mapped here.
		MetadataInfo: tfbridge.NewProviderMetadata([]byte("{}")),
		Resources: map[string]*tfbridge.ResourceInfo{
			"tls_private_key": {Tok: "tls:index/privateKey:PrivateKey"},
		},
	}
	schema, _ := json.Marshal(map[string]string{"name": "tls", "version": Version})
	pftfbridge.Main(context.Background(), "tls", info, pftfbridge.ProviderMetadata{PackageSchema: schema})
}

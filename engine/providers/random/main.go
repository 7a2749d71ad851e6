// The random resource plugin that `make engine` builds for relval.
//
// pulumi-random's provider module is not served by the Go module proxy this project reaches,
// so this bridges the same Terraform provider (a plugin-framework provider, reached through
// ./shim) under pulumi-random's type tokens, for the resources relval's program declares.
package main

import (
	"context"
	"encoding/json"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	"github.com/terraform-providers/terraform-provider-random/shim"
)

// Set with -ldflags -X at build time: the pulumi-random release this stands in for.
var Version = "0.0.0-dev"

func main() {
	info := tfbridge.ProviderInfo{
		P:       pftfbridge.ShimProvider(shim.NewProvider()),
		Name:    "random",
		Version: Version,
		// The plugin-framework bridge insists on metadata; tfgen would fill it with
		// renames and auto-aliases, none of which apply to the resources mapped here.
		MetadataInfo: tfbridge.NewProviderMetadata([]byte("{}")),
		Resources: map[string]*tfbridge.ResourceInfo{
			"random_password": {Tok: "random:index/randomPassword:RandomPassword"},
		},
	}
	schema, _ := json.Marshal(map[string]string{"name": "random", "version": Version})
	pftfbridge.Main(context.Background(), "random", info, pftfbridge.ProviderMetadata{PackageSchema: schema})
}

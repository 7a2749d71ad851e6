// A wrapper module for the Pulumi CLI: pkg/v3's own go.mod has replace directives, which
// only apply in the main module, so they are repeated here (see engine/build.sh).
module relval.local/pulumi-cli

go 1.26.6

require (
	github.com/pulumi/pulumi/pkg/v3 v3.274.0
	github.com/pulumi/pulumi/sdk/v3 v3.274.0
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e

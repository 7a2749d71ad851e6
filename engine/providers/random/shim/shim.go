// Package shim exposes the Terraform random provider's constructor, which lives in an
// internal package: this module's path sits under the provider's, so Go allows the import.
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"

	upstream "github.com/terraform-providers/terraform-provider-random/internal/provider"
)

func NewProvider() provider.Provider { return upstream.New() }

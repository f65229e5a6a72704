// Package plugin_models mirrors code.cloudfoundry.org/cli/plugin/models (the types GetCurrentSpace and
// GetCurrentOrg answer with).
package plugin_models

type SpaceFields struct {
	Guid string
	Name string
}

type Space struct {
	SpaceFields
}

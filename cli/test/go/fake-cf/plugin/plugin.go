// Package plugin holds the cf CLI's plugin metadata types (code.cloudfoundry.org/cli/plugin) with the same
// package, type and field names, so gob writes the same type names ("[]plugin.Command") as the real cf CLI.
package plugin

type VersionType struct {
	Major int
	Minor int
	Build int
}

type PluginMetadata struct {
	Name           string
	Version        VersionType
	LibraryVersion VersionType
	MinCliVersion  VersionType
	Commands       []Command
}

type Usage struct {
	Usage   string
	Options map[string]string
}

type Command struct {
	Name         string
	Alias        string
	HelpText     string
	UsageDetails Usage
}

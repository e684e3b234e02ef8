package main

import (
	"slices"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/config"
)

// sampledResources names the config's resources whose adapter samples sessions
// (adapters.ActivityConfig), read from the decoded config alone: the commands that read only the
// log (digest preview, audit export) list never-used grants for these, as serve does, without
// building adapters or needing the resources' secrets.
func sampledResources(cfg *config.Config) []string {
	var out []string
	for _, r := range cfg.Resources {
		if ac, ok := r.Adapter.Config.(adapters.ActivityConfig); ok && ac.SamplesActivity() && r.Name != "" {
			out = append(out, r.Name)
		}
	}
	// Sorted, as serve's list (grants.Service.SampledResources) is.
	slices.Sort(out)
	return out
}

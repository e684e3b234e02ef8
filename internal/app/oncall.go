package app

import (
	"fmt"

	"github.com/accessbot/accessbot/oncall"
	"github.com/accessbot/accessbot/oncall/opsgenie"
	"github.com/accessbot/accessbot/oncall/pagerduty"
)

// onCall builds the on-call rotas when the config names one: the providers of the oncall:
// section, the Directory layer in front of the config's and the platforms', the Lookup that
// puts who is on call on the approval card, and the readiness check that the rotas exist.
// Nothing is built (no client, no goroutine) when no rota is named.
func (w *wiring) onCall() error {
	rotas := oncall.RotasOf(w.Resources, w.Config.GrantsAlerts())
	if len(rotas) == 0 {
		return nil
	}
	oc := w.Config.OnCall
	providers := map[string]oncall.Provider{}
	if oc.PagerDuty.Enabled() {
		c, err := pagerduty.New(pagerduty.Options{APIURL: oc.PagerDuty.APIURL, Token: oncall.Token(oc.PagerDuty.Token.Reveal())})
		if err != nil {
			return fmt.Errorf("oncall: %w", err)
		}
		providers[oncall.PagerDuty] = c
	}
	if oc.Opsgenie.Enabled() {
		c, err := opsgenie.New(opsgenie.Options{APIURL: oc.Opsgenie.OpsgenieURL(), Token: oncall.Token(oc.Opsgenie.APIKey.Reveal())})
		if err != nil {
			return fmt.Errorf("oncall: %w", err)
		}
		providers[oncall.Opsgenie] = c
	}
	w.rotas = oncall.New(oncall.Options{Providers: providers, Rotas: rotas, CacheTTL: oc.CacheTTL,
		Timeout: oc.Timeout, Clock: w.clock, Log: w.Log.With().Str("component", "oncall").Logger()})
	w.dir = oncall.NewDirectory(w.dir, w.rotas)
	w.lookups = append(w.lookups, oncall.NewLookup(w.rotas))
	return nil
}

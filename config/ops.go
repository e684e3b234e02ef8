package config

import "time"

// DefaultReadinessInterval is how long one run of the readiness checks answers /readyz.
const DefaultReadinessInterval = 5 * time.Second

// Ops is the `ops:` section: what operators and orchestrators are answered on /readyz and
// /metrics.
type Ops struct {
	// ReadinessInterval is how long one run of the readiness checks (the database and every
	// target that can be checked) answers /readyz and the readiness gauges: the targets are
	// checked at most once per interval, however many ask. Default 5s, at most 5m.
	ReadinessInterval time.Duration `yaml:"readiness_interval"`
}

func defaultOps() Ops { return Ops{ReadinessInterval: DefaultReadinessInterval} }

func (v *validator) ops() {
	d := v.c.Ops.ReadinessInterval
	v.positive("ops.readiness_interval", d)
	if d > 5*time.Minute {
		v.add("ops.readiness_interval", "%s is longer than 5m: an orchestrator would act on a stale answer", FormatDuration(d))
	}
}

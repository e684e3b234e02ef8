package config

import "time"

// DefaultSampleInterval is activity.sample_interval's default (grants.DefaultSampleInterval).
const DefaultSampleInterval = 30 * time.Second

// Activity is the `activity:` section: how often the sessions of active grants are sampled at
// the targets whose adapter can list them (postgres, mysql), for the activity.session_seen
// events and the never-used grants of the digest.
type Activity struct {
	// SampleInterval is the time between samples; default 30s, between 1s and 1h. A session
	// shorter than the interval may fall between two samples and go unseen.
	SampleInterval time.Duration `yaml:"sample_interval"`
}

func defaultActivity() Activity { return Activity{SampleInterval: DefaultSampleInterval} }

func (v *validator) activity() {
	if d := v.c.Activity.SampleInterval; d < time.Second || d > time.Hour {
		v.add("activity.sample_interval", "must be between 1s and 1h, got %s", d)
	}
}

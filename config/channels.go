package config

// withoutChannel returns the resources that channels (a platform's `channels:`) gives no channel
// of their own, in the config's order: without an approver_channel, their approval messages
// would have nowhere to go.
func (v *validator) withoutChannel(channels map[string]string) []string {
	var missing []string
	for _, r := range v.c.Resources {
		if r.Name != "" && channels[r.Name] == "" {
			missing = append(missing, r.Name)
		}
	}
	return missing
}

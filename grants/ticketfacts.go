package grants

// TicketFacts is what a rule sees of the ticket a request's reason names (`ticket.status ==
// "In Progress"`, `ticket.priority in ["P1", "P2"]`): the facts of its "ticket" check, looked
// up when the request was made. Every field is "" when the request has no ticket check or the
// ticket could not be read, so a rule on them says no rather than failing.
type TicketFacts struct {
	Key      string `cel:"key"`
	Status   string `cel:"status"`
	Priority string `cel:"priority"`
	Project  string `cel:"project"`
}

// ticketFacts reads the first "ticket" check of a request.
func ticketFacts(cs []Check) TicketFacts {
	for _, c := range cs {
		if c.Kind != "ticket" {
			continue
		}
		if c.Status == CheckUnknown {
			return TicketFacts{}
		}
		return TicketFacts{Key: c.Subject, Status: c.Attrs["status"], Priority: c.Attrs["priority"], Project: c.Attrs["project"]}
	}
	return TicketFacts{}
}

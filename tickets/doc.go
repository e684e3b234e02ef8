// Package tickets ties access to a real ticket: the ticket a request's reason names is looked up
// in the team's ticket system (Jira, ServiceNow) when the request is made, the approval card
// shows it, accessbot comments on it when access is granted, extended and revoked, and access
// ends when the ticket closes (end_with_ticket).
//
// A System is one ticket system behind one small interface (tickets/jira, tickets/servicenow
// implement it over their REST APIs, typed, on net/http). Lookup is the grants.Lookup of kind
// "ticket" that applies a resource's Policy; Commenter is an audit sink that comments from its own
// cursor of the audit log, so that nothing is lost when the system is down or accessbot restarts;
// Closer revokes the grants whose ticket closed, on a schedule and when a verified webhook
// hints that a ticket changed.
package tickets

// Package teams is accessbot's Microsoft Teams platform: the Bot Framework messaging endpoint
// (POST /teams/messages), whose every request carries a JWT the Bot Framework signed and that is
// verified against the keys of its OpenID metadata before anything is read; the `/access`
// commands as messages to the bot; Adaptive Cards for the request form and the approval
// messages, with Approve and Deny as Universal Actions (Action.Execute) answered with the card
// as it stands; and the Bot Connector REST client through which the outbox posts, updates and
// sends proactive personal messages with an OAuth client-credentials token.
//
// A Teams user is the Entra ID account the connector's member API describes: their email (or
// UPN) becomes their person ID when the identity rules accept them (tenant, email domains,
// guests), else they are refused.
package teams

// PlatformName is the platform's name in message references, person records and config.
const PlatformName = "teams"

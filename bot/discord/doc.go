// Package discord is accessbot's Discord platform. It receives `/access` slash commands, button
// clicks, form (modal) submissions and resource-name completions at POST /discord/interactions,
// each request verified against the application's Ed25519 public key (a timestamp window and a
// replay cache too), or over the gateway for servers Discord cannot reach. It works out who the
// person is (Discord gives bots no email: the config maps Discord user IDs to people, or people
// link themselves with `/access link <email>`, confirmed by an admin or from another platform),
// hands the command or click to a bot.Handler, and answers within Discord's three seconds: with
// the reply itself when the handler is quick, otherwise with a deferred response that the reply
// replaces when it is ready.
//
// It renders bot.View as an embed with buttons and bot.Form as a modal (render.go), implements
// bot.Platform over the REST API so the outbox can post, update and DM (client.go), answers
// membership of Discord roles ("discord-role:<ID or name>") for authorization, cached for a
// short TTL, and defines the /access command that `accessbot discord register` registers.
//
// Nothing here decides who may do what: that is the grants policy, asked through the Handler.
// A button's custom_id is only the action and the ID of the object it acts on.
package discord

// Package slack is accessbot's Slack platform. It receives `/access` commands and clicks over
// HTTP (POST /slack/commands and /slack/interactions, each request verified against the app's
// signing secret) or over Socket Mode, works out who the person is (their email from
// users.info), hands the command or click to a bot.Handler, and answers within Slack's three
// seconds: with the reply itself when the handler is quick, otherwise with an acknowledgement
// and the reply posted to the response_url when it is ready.
//
// It renders bot.View as Block Kit messages and bot.Form as modals (render.go), implements
// bot.Platform over the Web API so the outbox can post, update and DM (client.go), and answers
// membership of Slack user groups ("@handle") for authorization, cached for a short TTL.
//
// Nothing here decides who may do what: that is the grants policy, asked through the Handler.
// A button's value is only the ID of the object it acts on.
package slack

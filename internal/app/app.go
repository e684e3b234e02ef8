// Package app assembles a running accessbot from its config: storage, adapters, the grants
// service and scheduler, and the HTTP server. cmd/accessbot parses flags and calls it; tests use
// it to run the whole engine in one process.
package app

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/digest"
	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/audit/translog"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/teams"
	"github.com/accessbot/accessbot/bot/web"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/ops"
	"github.com/accessbot/accessbot/internal/stepup"
	"github.com/accessbot/accessbot/oncall"
	"github.com/accessbot/accessbot/storage"
	"github.com/accessbot/accessbot/tickets"

	// Adapter types register themselves by name.
	_ "github.com/accessbot/accessbot/adapters/awsidc"
	_ "github.com/accessbot/accessbot/adapters/exec"
	_ "github.com/accessbot/accessbot/adapters/gcpiam"
	_ "github.com/accessbot/accessbot/adapters/github"
	_ "github.com/accessbot/accessbot/adapters/googlegroups"
	_ "github.com/accessbot/accessbot/adapters/kubernetes"
	_ "github.com/accessbot/accessbot/adapters/ldap"
	_ "github.com/accessbot/accessbot/adapters/mysql"
	_ "github.com/accessbot/accessbot/adapters/noop"
	_ "github.com/accessbot/accessbot/adapters/okta"
	_ "github.com/accessbot/accessbot/adapters/postgres"
	_ "github.com/accessbot/accessbot/adapters/redis"
	_ "github.com/accessbot/accessbot/adapters/sshcert"
	_ "github.com/accessbot/accessbot/adapters/webhook"
)

// Version is set by cmd/accessbot from its build-time version.
var Version = "dev"

// OpenStore opens the configured database and applies pending migrations.
func OpenStore(ctx context.Context, cfg *config.Config, log zerolog.Logger) (*storage.DB, error) {
	return openStore(ctx, cfg, log, false)
}

// OpenExistingStore is OpenStore for the commands that read the database: a SQLite file that
// does not exist is an error wrapping fs.ErrNotExist, never a new, empty database.
func OpenExistingStore(ctx context.Context, cfg *config.Config, log zerolog.Logger) (*storage.DB, error) {
	return openStore(ctx, cfg, log, true)
}

func openStore(ctx context.Context, cfg *config.Config, log zerolog.Logger, mustExist bool) (*storage.DB, error) {
	db, err := storage.Open(ctx, storage.Options{Driver: cfg.Storage.Driver, DSN: cfg.Storage.DSN, MustExist: mustExist})
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", cfg.Storage.Driver, err)
	}
	applied, err := db.Migrate(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	if len(applied) > 0 {
		log.Info().Ints("versions", applied).Msg("database migrated")
	}
	// A log from before the Merkle tree (migration 0014) gets its tree once, here; from then on
	// every append keeps it, and this finds nothing to do.
	added, err := db.SyncAuditTree(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("build the audit log's Merkle tree: %w", err)
	}
	if added > 0 {
		log.Info().Int64("events", added).Msg("audit log's Merkle tree built for events from before it")
	}
	return db, nil
}

// ReplayStore is where the Slack and Discord servers remember the signed requests they
// accepted: on PostgreSQL, where replicas may share the database, the database's table, so
// that a captured request is accepted once by the whole deployment; on SQLite (one process),
// nil, for each server's cache in memory.
func ReplayStore(db *storage.DB) bot.ReplayStore {
	if db.Driver() == storage.Postgres {
		return db.ReplayStore()
	}
	return nil
}

// Options adjust an App for tests.
type Options struct {
	Clock clock.Clock
	// Listener, when set, is used instead of listening on cfg.Server.Listen.
	Listener net.Listener
	// WebURLShown says the caller shows the web chat's URL, with its token, to the person
	// itself (the demo prints it), so Run does not log it.
	WebURLShown bool
	// ExistingDatabase makes a SQLite database that does not exist an error (OpenExistingStore),
	// for the operator commands that read grants.
	ExistingDatabase bool
}

// App is a running accessbot.
type App struct {
	Config    *config.Config
	Log       zerolog.Logger
	DB        *storage.DB
	Service   *grants.Service
	Scheduler *grants.Scheduler
	// Heartbeat keeps this process's heartbeat, the liveness of the holds its scheduler
	// records; nil under scheduler.hold_rule: legacy.
	Heartbeat *grants.Heartbeat
	Metrics   *ops.Metrics
	Resources []*grants.Resource
	// Bot is the chat core; it delivers through every enabled platform.
	Bot *bot.Bot
	// Slack is the Slack endpoints' server when Slack is enabled.
	Slack *slack.Server
	// Sinks forward the audit log to SIEMs (audit_sinks:); /metrics reads each one's StoredLag.
	Sinks []*sink.Forwarder
	// Discord is the Discord interactions server when Discord is enabled.
	Discord *discord.Server
	// Teams is the Teams messaging endpoint's server when Teams is enabled.
	Teams *teams.Server
	// Web is the local web chat (/chat/) when it is enabled.
	Web *web.Chat

	// runners run beside the scheduler and the HTTP server (the bot's delivery workers,
	// Socket Mode); waiters are waited for after the HTTP server has drained.
	runners []func(context.Context) error
	waiters []func()
	// onShutdown runs when the HTTP server starts shutting down: it ends long-lived answers
	// (the web chat's event streams) so that the server can drain.
	onShutdown []func()
	mux        *http.ServeMux
	listener   net.Listener
	clock      clock.Clock
	// webURLShown is Options.WebURLShown.
	webURLShown bool
}

// New builds an App: it opens and migrates the database, builds every resource's adapter,
// records the config in force in the audit log, and prepares (but does not start) the
// scheduler and HTTP server. When a step fails, what the earlier ones opened is closed.
func New(ctx context.Context, cfg *config.Config, log zerolog.Logger, o Options) (*App, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	db, err := openStore(ctx, cfg, log, o.ExistingDatabase)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: log, DB: db, listener: o.Listener, clock: o.Clock, webURLShown: o.WebURLShown}
	w := &wiring{App: a, ctx: ctx}
	// The order matters: each step uses what the ones before it built.
	steps := []func() error{
		w.resources,
		w.metrics,
		w.chatClients,
		w.onCall,
		w.auditSinks,
		w.ticketLookup,
		w.service,
		w.scheduler,
		w.activity,
		w.scan,
		w.bot,
		w.links,
		w.slack,
		w.discord,
		w.teams,
		w.web,
		w.ticketRoutes,
		w.sinkMetrics,
		w.transparency,
		w.digest,
		w.health,
		w.home,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			a.Close()
			return nil, err
		}
	}
	return a, nil
}

// wiring is the App under construction: each step of New sets the App's parts (embedded) and
// hands the others what only the building needs (the fields below).
type wiring struct {
	*App

	// ctx is New's: for what the building reads from the database (the web chat's history).
	ctx context.Context

	// dir answers who is in which group: the config's groups, then each chat platform's.
	dir grants.Directory
	// slackClient and discordClient are set when their platform is enabled.
	slackClient   *slack.Client
	discordClient *discord.Client
	teamsClient   *teams.Client
	// relay lets the Service be built before the Bot that hears from it.
	relay *bot.Relay
	// notifier is the Service's one Notifier: the relay and every audit sink.
	notifier sink.Notifiers
	// handler answers the chat platforms: the Bot, wrapped by links when Discord is enabled.
	handler      bot.Handler
	discordLinks *discord.Links
	// signCheckpoint signs the audit log's checkpoints when transparency is on (nil when off).
	signCheckpoint bot.CheckpointSigner
	// ticketLookups checks the tickets of resources with a ticket: policy (nil when none has).
	ticketLookups *tickets.Lookup
	// lookups make the outside checks of new requests; rotas is who is on call (nil when no
	// rota is named), also checked by /readyz.
	lookups []grants.Lookup
	rotas   *oncall.Rotas
}

// resources builds every resource's adapter.
func (w *wiring) resources() error {
	var err error
	if w.Resources, err = w.Config.BuildResourcesWith(config.BuildOptions{Log: w.Log, PublicKeys: w.DB}); err != nil {
		return fmt.Errorf("build resources: %w", err)
	}
	return nil
}

// metrics builds the Prometheus metrics the Service and /metrics share.
func (w *wiring) metrics() error {
	w.Metrics = ops.NewMetrics(w.DB)
	names := make([]string, len(w.Resources))
	for i, r := range w.Resources {
		names[i] = r.Name
	}
	w.Metrics.AddResources(names)
	return nil
}

// chatClients builds the enabled chat platforms' API clients. They know who people are and
// which platform groups they are in; the Service asks them through one Directory.
func (w *wiring) chatClients() error {
	w.dir = w.Config.Directory()
	if w.Config.Slack.IsEnabled() {
		c, err := slack.NewClient(slack.ClientOptions{
			BotToken: w.Config.Slack.BotToken.Reveal(),
			APIURL:   w.Config.Slack.APIURL,
			UserTTL:  w.Config.Slack.UserCacheTTL,
			GroupTTL: w.Config.Slack.GroupCacheTTL,
			Rates:    slack.DefaultRates().Scaled(w.Config.Slack.RateLimitScale),
			Clock:    w.clock,
			Log:      w.Log,
			Identity: slack.IdentityPolicy{
				Teams:         w.Config.Identity.Slack.Teams,
				EnterpriseID:  w.Config.Identity.Slack.EnterpriseID,
				AllowGuests:   w.Config.Identity.Slack.AllowGuests,
				AllowExternal: w.Config.Identity.Slack.AllowExternal,
				EmailDomains:  w.Config.Identity.EmailDomains,
			},
		})
		if err != nil {
			return fmt.Errorf("slack: %w", err)
		}
		w.slackClient = c
		w.dir = c.Directory(w.dir)
	}
	if w.Config.Discord.IsEnabled() {
		c, err := discord.NewClient(discord.ClientOptions{
			BotToken:      w.Config.Discord.BotToken.Reveal(),
			ApplicationID: w.Config.Discord.ApplicationID,
			APIURL:        w.Config.Discord.APIURL,
			GuildID:       w.Config.Discord.GuildID,
			Users:         w.Config.Discord.Users,
			Links:         w.DB,
			RoleTTL:       w.Config.Discord.RoleCacheTTL,
			Clock:         w.clock,
			Log:           w.Log,
		})
		if err != nil {
			return fmt.Errorf("discord: %w", err)
		}
		w.discordClient = c
		w.dir = c.Directory(w.dir)
	}
	if w.Config.Teams.IsEnabled() {
		tc := w.Config.Teams
		c, err := teams.NewClient(teams.ClientOptions{
			AppID: tc.AppID, AppPassword: tc.AppPassword.Reveal(), TenantID: tc.TenantID,
			TokenURL: tc.TokenURL, ServiceURL: tc.ServiceURL, GraphURL: tc.GraphURL, MemberTTL: tc.MemberCacheTTL,
			Identity: teams.IdentityPolicy{Tenants: tc.Tenants, EmailDomains: w.Config.Identity.EmailDomains,
				AllowGuests: w.Config.Identity.Teams.AllowGuests},
			Clock: w.clock, Log: w.Log,
		})
		if err != nil {
			return fmt.Errorf("teams: %w", err)
		}
		w.teamsClient = c
		// entra-group: groups are read through Graph, asked only for groups so named.
		w.dir = c.Directory(w.dir)
	}
	return nil
}

// auditSinks builds the forwarders to the SIEMs, and the Service's notifier, which fans out to
// the chat relay and every sink.
func (w *wiring) auditSinks() error {
	w.relay = &bot.Relay{}
	w.notifier = sink.Notifiers{w.relay}
	for _, sc := range w.Config.AuditSinks {
		f, err := newAuditSink(sc, w.DB, w.clock, w.Log)
		if err != nil {
			return fmt.Errorf("audit sink %s: %w", sc.Name, err)
		}
		w.Sinks = append(w.Sinks, f)
		w.runners = append(w.runners, f.Run)
		w.notifier = append(w.notifier, f)
	}
	return nil
}

// service builds the grants Service.
func (w *wiring) service() error {
	var err error
	w.Service, err = grants.NewService(grants.Options{
		Store:       w.DB,
		Resources:   w.Resources,
		Notifier:    w.notifier,
		Secrets:     w.relay,
		Directory:   w.dir,
		AdminUsers:  w.Config.Admins.Users,
		AdminGroups: w.Config.Admins.Groups,
		Groups:      slices.Sorted(maps.Keys(w.Config.Groups)),
		Clock:       w.clock,
		Location:    w.Config.Location(),
		Log:         w.Log,
		Metrics:     w.Metrics,
		Limits:      w.Config.Limits.GrantsLimits(),
		Aliases:     w.aliases(),
		// Verified GitHub logins (`/access github-login`) for account_from: github-login.
		VerifiedAccounts: w.DB,

		WorkingHours: w.Config.WorkingHours(),
		Alerts:       w.Config.GrantsAlerts(),
		Lookups:      w.lookups,
	})
	if err != nil {
		return fmt.Errorf("start grants service: %w", err)
	}
	return nil
}

// aliases is who resolves "slack:U…" person IDs to emails: the Slack client when Slack is on.
// (A nil *slack.Client must not become a non-nil grants.Aliases.)
func (w *wiring) aliases() grants.Aliases {
	if w.slackClient == nil {
		return nil
	}
	return w.slackClient
}

// scheduler builds the Scheduler that makes, revokes and retries grants.
func (w *wiring) scheduler() error {
	sc := w.Config.Scheduler
	owner := ""
	if sc.HoldRule != config.HoldRuleLegacy {
		w.Heartbeat = &grants.Heartbeat{
			ID: grants.NewProcessID(), Store: w.DB, Clock: w.clock,
			Interval: sc.HeartbeatTimeout / 4, Log: w.Log,
		}
		owner = w.Heartbeat.ID
	}
	w.Scheduler = grants.NewScheduler(w.Service, grants.SchedulerOptions{
		Sweep:            sc.Sweep,
		CallTimeout:      sc.CallTimeout,
		Owner:            owner,
		HeartbeatTimeout: sc.HeartbeatTimeout,
		Retry: grants.RetryPolicy{
			Initial:  sc.Retry.Initial,
			Max:      sc.Retry.Max,
			Attempts: sc.Retry.Attempts,
			Slow:     sc.Retry.Slow,
		},
	})
	return nil
}

// activity adds the sampler of active grants' sessions (activity.sample_interval), when a
// resource's adapter can list sessions.
func (w *wiring) activity() error {
	a := grants.NewActivity(w.Service, grants.ActivityOptions{
		Interval: w.Config.Activity.SampleInterval, Clock: w.clock, Log: w.Log.With().Str("component", "activity").Logger(),
	})
	if a.Samples() {
		w.runners = append(w.runners, a.Run)
	}
	return nil
}

// scan adds the standing-privilege scan, when configured: access at the targets that no active
// grant explains.
func (w *wiring) scan() error {
	if !w.Config.Scan.Enabled() {
		return nil
	}
	scanner, err := grants.NewScanner(w.Service, w.Config.Scan.ScanOptions())
	if err != nil {
		return fmt.Errorf("standing-privilege scan: %w", err)
	}
	runner, err := grants.NewScanRunner(scanner, w.Config.Scan.Schedule, w.Config.Location())
	if err != nil {
		return fmt.Errorf("standing-privilege scan: %w", err)
	}
	// Replicas on one PostgreSQL take turns: each firing runs once.
	runner.UseLocker(w.DB)
	w.runners = append(w.runners, runner.Run)
	return nil
}

// bot builds the chat core, attaches it to the relay the Service notifies, and prepares the
// HTTP mux the platforms mount on.
func (w *wiring) bot() error {
	stepUp, err := w.stepUp()
	if err != nil {
		return err
	}
	// A nil *stepup.Service in the interface would not be nil there.
	var linker bot.StepUpLinker
	if stepUp != nil {
		linker = stepUp
	}
	w.Bot, err = bot.New(bot.Options{
		Service: w.Service,
		Store:   w.DB,
		Clock:   w.clock,
		Log:     w.Log,
		StepUp:  linker,
		// links() puts `/access link` in front of the Bot when Discord is enabled.
		Linking:     w.discordClient != nil,
		GitHubLogin: w.githubLogin(),
		Channels: map[string]bot.Channels{
			slack.PlatformName: {
				Approvals: w.Config.Slack.ApproverChannel,
				Resources: w.Config.Slack.Channels,
				Security:  w.Config.Slack.AlertChannel(),
			},
			discord.PlatformName: {
				Approvals: w.Config.Discord.ApproverChannel,
				Resources: w.Config.Discord.Channels,
				Security:  w.Config.Discord.AlertChannel(),
			},
			teams.PlatformName: {
				Approvals: w.Config.Teams.ApproverChannel,
				Resources: w.Config.Teams.Channels,
				Security:  w.Config.Teams.AlertChannel(),
			},
			web.PlatformName: {Approvals: web.ChannelApprovals, Security: web.ChannelSecurity},
		},
	})
	if err != nil {
		return fmt.Errorf("start chat: %w", err)
	}
	w.relay.Attach(w.Bot)
	w.runners = append(w.runners, w.Bot.Run)
	w.mux = http.NewServeMux()
	if stepUp != nil {
		h := stepUp.Handler()
		w.mux.Handle("GET "+stepup.StartPath, h)
		w.mux.Handle("GET "+stepup.CallbackPath, h)
	}
	w.handler = w.Bot
	return nil
}

// stepUp builds step-up approval when the config has an oidc: section (which a resource with
// step_up: oidc requires); nil otherwise.
func (w *wiring) stepUp() (*stepup.Service, error) {
	o := w.Config.OIDC
	if !o.Enabled() {
		return nil, nil
	}
	s, err := stepup.New(stepup.Options{
		Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret.Reveal(), RedirectURL: o.RedirectURL,
		Claim: o.Claim, MaxAge: o.MaxAge, RequireMFA: o.RequireMFA, ACRValues: o.ACRValues, LinkTTL: o.LinkTTL,
		AuthTimeFromIAT: o.AuthTimeFromIAT, Clock: w.clock, Log: w.Log,
	}, w.DB, w.Service)
	if err != nil {
		return nil, fmt.Errorf("step-up approval: %w", err)
	}
	return s, nil
}

// links wraps the chat handler with `/access link` when Discord is enabled: it ties a Discord
// account to a person, and is answered on Slack too, where a person confirms their own link
// with the code Discord gave them.
func (w *wiring) links() error {
	if w.discordClient == nil {
		return nil
	}
	var err error
	w.discordLinks, err = discord.NewLinks(discord.LinkOptions{
		Store: w.DB, Client: w.discordClient, IsAdmin: w.Service.IsAdmin, Clock: w.clock, Log: w.Log,
	})
	if err != nil {
		return fmt.Errorf("discord: %w", err)
	}
	w.handler = w.discordLinks.Wrap(w.Bot)
	return nil
}

// slack adds Slack as a platform and builds its server: mounted on the mux, or run over
// Socket Mode.
func (w *wiring) slack() error {
	if w.slackClient == nil {
		return nil
	}
	if err := w.Bot.AddPlatform(w.slackClient); err != nil {
		return err
	}
	var err error
	w.Slack, err = slack.NewServer(w.slackClient, slack.ServerOptions{
		SigningSecret: w.Config.Slack.SigningSecret.Reveal(),
		AppToken:      w.Config.Slack.AppToken.Reveal(),
		Handler:       w.handler,
		Audit:         w.DB,
		Clock:         w.clock,
		Log:           w.Log,
		ReplayStore:   ReplayStore(w.DB),
	})
	if err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	if w.Config.Slack.SocketMode {
		w.runners = append(w.runners, w.Slack.RunSocketMode)
	} else {
		w.Slack.Mount(w.mux)
	}
	w.waiters = append(w.waiters, w.Slack.Wait)
	return nil
}

// discord adds Discord as a platform and builds its interactions server: mounted on the mux, or
// run over the gateway.
func (w *wiring) discord() error {
	if w.discordClient == nil {
		return nil
	}
	if err := w.Bot.AddPlatform(w.discordClient); err != nil {
		return err
	}
	var err error
	w.Discord, err = discord.NewServer(w.discordClient, discord.ServerOptions{
		PublicKey:   w.Config.Discord.PublicKey,
		Handler:     w.handler,
		Links:       w.discordLinks,
		Requestable: w.Service.Requestable,
		Audit:       w.DB,
		Clock:       w.clock,
		Log:         w.Log,
		ReplayStore: ReplayStore(w.DB),
		// Replicas on PostgreSQL take turns with the gateway session; on SQLite the lock is
		// the process's own.
		GatewayLock: w.DB,
	})
	if err != nil {
		return fmt.Errorf("discord: %w", err)
	}
	if w.Config.Discord.Gateway {
		w.Metrics.Registry().MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "accessbot_discord_gateway_holder",
			Help: "1 on the replica that holds the Discord gateway session, 0 on the others.",
		}, func() float64 {
			if w.Discord.HoldsGateway() {
				return 1
			}
			return 0
		}))
		w.runners = append(w.runners, w.Discord.RunGateway)
	} else {
		w.Discord.Mount(w.mux)
	}
	w.waiters = append(w.waiters, w.Discord.Wait)
	return nil
}

// teams adds Teams as a platform and mounts its messaging endpoint, when Teams is enabled.
func (w *wiring) teams() error {
	if w.teamsClient == nil {
		return nil
	}
	// Approval cards show each person the buttons they may use, decided as a click is.
	w.teamsClient.UseReviewers(w.Service.MayReview)
	if err := w.Bot.AddPlatform(w.teamsClient); err != nil {
		return err
	}
	tc := w.Config.Teams
	var err error
	w.Teams, err = teams.NewServer(w.teamsClient, teams.ServerOptions{
		AppID: tc.AppID, OpenIDMetadataURL: tc.OpenIDMetadataURL, Tenants: tc.Tenants,
		Handler: w.handler, Approvals: w.Bot, Audit: w.DB, Clock: w.clock, Log: w.Log,
	})
	if err != nil {
		return fmt.Errorf("teams: %w", err)
	}
	w.Teams.Mount(w.mux)
	w.waiters = append(w.waiters, w.Teams.Wait)
	return nil
}

// web adds the local web chat when it is enabled.
func (w *wiring) web() error {
	if !w.Config.Web.Enabled {
		return nil
	}
	if err := w.addWeb(w.Config, w.clock, w.Log, w.handler); err != nil {
		return err
	}
	// A restarted serve shows the history it had.
	if err := w.Web.Restore(w.ctx); err != nil {
		return err
	}
	return nil
}

// sinkMetrics exports each audit sink's lag (read from the database at scrape time), failures
// and last success, the chat outbox's backlog per enabled platform, and the audit events
// appended from now on by type (requests, decisions, refusals, scans), on /metrics.
func (w *wiring) sinkMetrics() error {
	reports := make([]ops.SinkReport, len(w.Sinks))
	for i, f := range w.Sinks {
		reports[i] = f
	}
	w.Metrics.AddSinks(reports)
	if err := w.Metrics.AddAuditCounts(w.ctx, w.DB); err != nil {
		return err
	}
	var platforms []string
	if w.Config.Slack.IsEnabled() {
		platforms = append(platforms, slack.PlatformName)
	}
	if w.Config.Discord.IsEnabled() {
		platforms = append(platforms, discord.PlatformName)
	}
	if w.Config.Teams.IsEnabled() {
		platforms = append(platforms, teams.PlatformName)
	}
	if w.Config.Web.Enabled {
		platforms = append(platforms, web.PlatformName)
	}
	w.Metrics.AddOutbox(outboxStats{w.DB}, platforms, w.clock)
	return nil
}

// outboxStats adapts the storage's bot.OutboxStats to what internal/ops reads.
type outboxStats struct{ db bot.OutboxStats }

// OutboxPending implements ops.OutboxStats.
func (o outboxStats) OutboxPending(ctx context.Context) ([]ops.OutboxPending, error) {
	ps, err := o.db.OutboxPending(ctx)
	out := make([]ops.OutboxPending, len(ps))
	for i, p := range ps {
		out[i] = ops.OutboxPending(p)
	}
	return out, err
}

// digest adds the weekly digest, when configured, posted to each platform's security channel
// unless the config names another.
func (w *wiring) digest() error {
	dc := w.Config.Digest
	if !dc.Enabled() {
		return nil
	}
	start, end := dc.WorkHours()
	runner, err := bot.NewDigestRunner(w.Bot, bot.DigestOptions{
		Store: w.DB, Schedule: dc.Schedule, Location: w.Config.Location(), Period: dc.Period,
		Digest: digest.Options{WorkingHours: digest.WorkingHours{Days: dc.WorkDays(), Start: start, End: end},
			Sampled: w.Service.SampledResources()},
		Channels: dc.ChannelsFor(map[string]string{slack.PlatformName: w.Config.Slack.AlertChannel(),
			discord.PlatformName: w.Config.Discord.AlertChannel(), teams.PlatformName: w.Config.Teams.AlertChannel(),
			web.PlatformName: web.ChannelSecurity}),
		Chart: dc.ChartEnabled(), Checkpoint: w.signCheckpoint, Log: w.Log,
	})
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	w.runners = append(w.runners, runner.Run)
	return nil
}

// transparency opens the audit log's transparency log when the config has a transparency:
// section: its checkpoints go in every digest, and every publish_interval to the witness channel
// (on the first chat platform of Slack, Discord, the web chat that is on).
func (w *wiring) transparency() error {
	tc := w.Config.Transparency
	if !tc.Enabled() {
		return nil
	}
	key, err := tc.SignerKey()
	if err != nil {
		return fmt.Errorf("transparency: %w", err)
	}
	l, err := translog.NewLog(w.DB, key, w.clock)
	if err != nil {
		return fmt.Errorf("transparency: %w", err)
	}
	w.signCheckpoint = func(ctx context.Context) (audit.CheckpointPublishedData, error) {
		c, err := l.Checkpoint(ctx)
		if err != nil {
			return audit.CheckpointPublishedData{}, err
		}
		return audit.CheckpointPublishedData{Size: int64(c.Size), Root: base64.StdEncoding.EncodeToString(c.Root), Note: c.Note}, nil
	}
	if tc.WitnessChannel == "" || w.Bot == nil {
		return nil
	}
	var platform string
	switch {
	case w.slackClient != nil:
		platform = slack.PlatformName
	case w.discordClient != nil:
		platform = discord.PlatformName
	case w.Config.Web.Enabled:
		platform = web.PlatformName
	default:
		return nil
	}
	p, err := bot.NewCheckpointPublisher(w.Bot, bot.CheckpointOptions{Store: w.DB, Sign: w.signCheckpoint,
		Interval: tc.PublishInterval, Channels: map[string]string{platform: tc.WitnessChannel}, Log: w.Log})
	if err != nil {
		return fmt.Errorf("transparency: %w", err)
	}
	w.runners = append(w.runners, p.Run)
	return nil
}

// health mounts /healthz, /readyz (the database and every adapter that can check its target,
// checked at most once per ops.readiness_interval) and /metrics.
func (w *wiring) health() error {
	checkers := map[string]adapters.Checker{}
	for _, r := range w.Resources {
		if c, ok := r.Adapter.(adapters.Checker); ok {
			checkers[r.Name] = c
		}
	}
	if w.rotas != nil {
		checkers["oncall"] = w.rotas
	}
	ops.Mount(w.mux, &ops.Health{DB: w.DB, Checkers: checkers, Interval: w.Config.Ops.ReadinessInterval,
		Clock: w.clock, Log: w.Log}, w.Metrics)
	return nil
}

// addWeb wires the local web chat: its people from the config, handler (the Bot, with
// `/access link` in front when Discord is enabled, so a person confirms their link here too),
// its page and API under /chat/.
func (a *App) addWeb(cfg *config.Config, clk clock.Clock, log zerolog.Logger, handler bot.Handler) error {
	var people []web.Person
	for _, p := range cfg.WebPeople() {
		people = append(people, web.Person{ID: p.ID, Name: p.Name, Email: p.Email, Role: p.Role})
	}
	chat, err := web.New(web.Options{
		People: people, Handler: handler, Clock: clk, Log: log, AllowRemote: cfg.Web.AllowRemote,
		Token: cfg.Web.Token.Reveal(), Store: a.DB,
	})
	if err != nil {
		return err
	}
	if err := a.Bot.AddPlatform(chat); err != nil {
		return err
	}
	chat.Mount(a.mux)
	a.Web = chat
	a.onShutdown = append(a.onShutdown, chat.Close)
	return nil
}

// logWebURL logs, once, the URL that opens the web chat: the one place a generated token
// appears, for the person who started accessbot. A configured token (web.token) is never
// logged: whoever configured it has it.
func (a *App) logWebURL(addr net.Addr) {
	if a.Web == nil || a.webURLShown {
		return
	}
	origin := webOrigin(a.Config, addr)
	if a.Config.Web.Token != "" {
		a.Log.Info().Str("url", origin+web.Prefix).
			Msg("web chat: open this URL with ?token= and the value of web.token")
		return
	}
	a.Log.Info().Str("url", a.Web.URL(origin, "")).Msg("web chat: open this URL")
}

// webOrigin is where a browser reaches the web chat: server.public_url when the web chat
// answers other host names (web.allow_remote), else the address the server listens on, with
// 127.0.0.1 for "every interface".
func webOrigin(cfg *config.Config, addr net.Addr) string {
	if cfg.Web.AllowRemote && cfg.Server.PublicURL != "" {
		return strings.TrimRight(cfg.Server.PublicURL, "/")
	}
	hostport := addr.String()
	if host, port, err := net.SplitHostPort(hostport); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			hostport = net.JoinHostPort("127.0.0.1", port)
		}
	}
	return "http://" + hostport
}

// Mux is the HTTP mux, for the chat platforms to mount their endpoints on.
func (a *App) Mux() *http.ServeMux { return a.mux }

// Run records the config in force, serves HTTP and runs the scheduler until ctx is done, then
// shuts down gracefully: the HTTP server drains, and adapter calls in flight finish.
func (a *App) Run(ctx context.Context) error {
	if err := a.recordConfig(ctx); err != nil {
		return err
	}
	if a.Heartbeat != nil {
		// Alive before the scheduler's first claim.
		if err := a.Heartbeat.Start(ctx); err != nil {
			return err
		}
	}
	ln := a.listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", a.Config.Server.Listen); err != nil {
			return fmt.Errorf("listen on %s: %w", a.Config.Server.Listen, err)
		}
	}
	srv := &http.Server{
		Handler:           a.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	for _, f := range a.onShutdown {
		srv.RegisterOnShutdown(f)
	}
	a.Log.Info().Str("listen", ln.Addr().String()).Int("resources", len(a.Resources)).
		Str("storage", a.Config.Storage.Driver).Msg("accessbot serving")
	a.logPlatforms(ln.Addr())
	a.logWebURL(ln.Addr())

	errc := make(chan error, 2+len(a.runners))
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
			return
		}
		errc <- nil
	}()
	schedCtx, stopSched := context.WithCancel(ctx)
	defer stopSched()
	if hb := a.Heartbeat; hb != nil {
		// The heartbeat outlives the scheduler's context: the adapter calls in flight at
		// shutdown finish under holds that stay alive, and it stops when Run returns.
		hbCtx, stopHB := context.WithCancel(context.WithoutCancel(ctx))
		hbDone := make(chan struct{})
		go func() {
			defer close(hbDone)
			_ = hb.Run(hbCtx)
		}()
		defer func() { stopHB(); <-hbDone }()
	}
	go func() {
		err := a.Scheduler.Run(schedCtx)
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		errc <- err
	}()
	for _, run := range a.runners {
		go func() {
			err := run(schedCtx)
			if errors.Is(err, context.Canceled) {
				err = nil
			}
			errc <- err
		}()
	}

	// Whichever stops first (a signal, or a failing server, scheduler or chat worker) stops the
	// others.
	var first error
	pending := 2 + len(a.runners)
	select {
	case <-ctx.Done():
	case first = <-errc:
		pending--
	}
	stopSched()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && first == nil {
		first = err
	}
	for _, wait := range a.waiters {
		wait()
	}
	for ; pending > 0; pending-- {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	a.Log.Info().Msg("accessbot stopped")
	return first
}

// recordConfig writes the policy in force to the audit log, so that an auditor sees when it
// changed, and what changed since the last start (RecordPolicyChange). The hash is of the file
// before ${...} expansion: no secret is in it.
func (a *App) recordConfig(ctx context.Context) error {
	_, err := a.DB.AppendAudit(ctx, audit.Event{At: a.clock.Now(), Actor: grants.System.ID}.With(audit.ConfigLoadedData{
		ConfigSHA256: a.Config.Hash(), Resources: len(a.Resources), Version: Version,
	}))
	if err != nil {
		return fmt.Errorf("record config in audit log: %w", err)
	}
	_, _, err = RecordPolicyChange(ctx, a.DB, a.Config, a.clock)
	return err
}

// Close releases the adapters' connections and the database.
func (a *App) Close() error {
	for _, r := range a.Resources {
		if c, ok := r.Adapter.(adapters.Closer); ok {
			_ = c.Close()
		}
	}
	if a.DB != nil {
		return a.DB.Close()
	}
	return nil
}

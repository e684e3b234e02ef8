// Package app assembles a running accessbot from its config: storage, adapters, the grants
// service and scheduler, and the HTTP server. cmd/accessbot parses flags and calls it; tests use
// it to run the whole engine in one process.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/digest"
	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/web"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/ops"
	"github.com/accessbot/accessbot/storage"

	// Adapter types register themselves by name.
	_ "github.com/accessbot/accessbot/adapters/exec"
	_ "github.com/accessbot/accessbot/adapters/ldap"
	_ "github.com/accessbot/accessbot/adapters/mysql"
	_ "github.com/accessbot/accessbot/adapters/noop"
	_ "github.com/accessbot/accessbot/adapters/postgres"
	_ "github.com/accessbot/accessbot/adapters/redis"
	_ "github.com/accessbot/accessbot/adapters/sshcert"
	_ "github.com/accessbot/accessbot/adapters/webhook"
)

// Version is set by cmd/accessbot from its build-time version.
var Version = "dev"

// OpenStore opens the configured database and applies pending migrations.
func OpenStore(ctx context.Context, cfg *config.Config, log zerolog.Logger) (*storage.DB, error) {
	db, err := storage.Open(ctx, storage.Options{Driver: cfg.Storage.Driver, DSN: cfg.Storage.DSN})
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
	return db, nil
}

// Options adjust an App for tests.
type Options struct {
	Clock clock.Clock
	// Listener, when set, is used instead of listening on cfg.Server.Listen.
	Listener net.Listener
}

// App is a running accessbot.
type App struct {
	Config    *config.Config
	Log       zerolog.Logger
	DB        *storage.DB
	Service   *grants.Service
	Scheduler *grants.Scheduler
	Metrics   *ops.Metrics
	Resources []*grants.Resource
	// Bot is the chat core; it delivers through every enabled platform.
	Bot *bot.Bot
	// Slack is the Slack endpoints' server when Slack is enabled.
	Slack *slack.Server
	// Sinks forward the audit log to SIEMs (audit_sinks:); Lag() of each is for /metrics.
	Sinks []*sink.Forwarder
	// Discord is the Discord interactions server when Discord is enabled.
	Discord *discord.Server
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
}

// New builds an App: it opens and migrates the database, builds every resource's adapter,
// records the config in force in the audit log, and prepares (but does not start) the
// scheduler and HTTP server.
func New(ctx context.Context, cfg *config.Config, log zerolog.Logger, o Options) (*App, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	db, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: log, DB: db, listener: o.Listener, clock: o.Clock}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()

	if a.Resources, err = cfg.BuildResourcesWith(config.BuildOptions{Log: log, PublicKeys: db}); err != nil {
		return nil, fmt.Errorf("build resources: %w", err)
	}
	a.Metrics = ops.NewMetrics(db)

	// The chat platforms know who people are and which platform groups they are in; the
	// Service asks them through one Directory. The Relay lets the Service be built before the
	// Bot that hears from it.
	var dir grants.Directory = cfg.Directory()
	var slackClient *slack.Client
	if cfg.Slack.IsEnabled() {
		slackClient, err = slack.NewClient(slack.ClientOptions{
			BotToken: cfg.Slack.BotToken.Reveal(),
			APIURL:   cfg.Slack.APIURL,
			UserTTL:  cfg.Slack.UserCacheTTL,
			GroupTTL: cfg.Slack.GroupCacheTTL,
			Clock:    o.Clock,
			Log:      log,
		})
		if err != nil {
			return nil, fmt.Errorf("slack: %w", err)
		}
		dir = slackClient.Directory(dir)
	}
	var discordClient *discord.Client
	if cfg.Discord.IsEnabled() {
		discordClient, err = discord.NewClient(discord.ClientOptions{
			BotToken:      cfg.Discord.BotToken.Reveal(),
			ApplicationID: cfg.Discord.ApplicationID,
			APIURL:        cfg.Discord.APIURL,
			GuildID:       cfg.Discord.GuildID,
			Users:         cfg.Discord.Users,
			Links:         db,
			RoleTTL:       cfg.Discord.RoleCacheTTL,
			Clock:         o.Clock,
			Log:           log,
		})
		if err != nil {
			return nil, fmt.Errorf("discord: %w", err)
		}
		dir = discordClient.Directory(dir)
	}
	relay := &bot.Relay{}
	// The Service has one Notifier: fan it out to the chat relay and every audit sink.
	notifier := sink.Notifiers{relay}
	for _, sc := range cfg.AuditSinks {
		f, err := newAuditSink(sc, db, o.Clock, log)
		if err != nil {
			return nil, fmt.Errorf("audit sink %s: %w", sc.Name, err)
		}
		a.Sinks = append(a.Sinks, f)
		a.runners = append(a.runners, f.Run)
		notifier = append(notifier, f)
	}

	a.Service, err = grants.NewService(grants.Options{
		Store:       db,
		Resources:   a.Resources,
		Notifier:    notifier,
		Secrets:     relay,
		Directory:   dir,
		AdminUsers:  cfg.Admins.Users,
		AdminGroups: cfg.Admins.Groups,
		Groups:      sortedKeys(cfg.Groups),
		Clock:       o.Clock,
		Location:    cfg.Location(),
		Log:         log,
		Metrics:     a.Metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("start grants service: %w", err)
	}
	a.Scheduler = grants.NewScheduler(a.Service, grants.SchedulerOptions{
		Sweep:       cfg.Scheduler.Sweep,
		CallTimeout: cfg.Scheduler.CallTimeout,
		Retry: grants.RetryPolicy{
			Initial:  cfg.Scheduler.Retry.Initial,
			Max:      cfg.Scheduler.Retry.Max,
			Attempts: cfg.Scheduler.Retry.Attempts,
			Slow:     cfg.Scheduler.Retry.Slow,
		},
	})
	if cfg.Scan.Enabled() {
		// The standing-privilege scan: access at the targets that no active grant explains.
		scanner, err := grants.NewScanner(a.Service, cfg.Scan.ScanOptions())
		if err != nil {
			return nil, fmt.Errorf("standing-privilege scan: %w", err)
		}
		runner, err := grants.NewScanRunner(scanner, cfg.Scan.Schedule, cfg.Location())
		if err != nil {
			return nil, fmt.Errorf("standing-privilege scan: %w", err)
		}
		// Replicas on one PostgreSQL take turns: each firing runs once.
		runner.UseLocker(db)
		a.runners = append(a.runners, runner.Run)
	}

	a.Bot, err = bot.New(bot.Options{
		Service: a.Service,
		Store:   db,
		Clock:   o.Clock,
		Log:     log,
		Channels: map[string]bot.Channels{
			slack.PlatformName: {
				Approvals: cfg.Slack.ApproverChannel,
				Resources: cfg.Slack.Channels,
				Security:  cfg.Slack.AlertChannel(),
			},
			discord.PlatformName: {
				Approvals: cfg.Discord.ApproverChannel,
				Resources: cfg.Discord.Channels,
				Security:  cfg.Discord.AlertChannel(),
			},
			web.PlatformName: {Approvals: web.ChannelApprovals, Security: web.ChannelSecurity},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start chat: %w", err)
	}
	relay.Attach(a.Bot)
	a.runners = append(a.runners, a.Bot.Run)

	a.mux = http.NewServeMux()
	// `/access link` ties a Discord account to a person; it is answered on Slack too, where a
	// person confirms their own link with the code Discord gave them.
	var handler bot.Handler = a.Bot
	var links *discord.Links
	if discordClient != nil {
		links, err = discord.NewLinks(discord.LinkOptions{
			Store: db, Client: discordClient, IsAdmin: a.Service.IsAdmin, Clock: o.Clock, Log: log,
		})
		if err != nil {
			return nil, fmt.Errorf("discord: %w", err)
		}
		handler = links.Wrap(a.Bot)
	}
	if slackClient != nil {
		if err := a.Bot.AddPlatform(slackClient); err != nil {
			return nil, err
		}
		a.Slack, err = slack.NewServer(slackClient, slack.ServerOptions{
			SigningSecret: cfg.Slack.SigningSecret.Reveal(),
			AppToken:      cfg.Slack.AppToken.Reveal(),
			Handler:       handler,
			Audit:         db,
			Clock:         o.Clock,
			Log:           log,
		})
		if err != nil {
			return nil, fmt.Errorf("slack: %w", err)
		}
		if cfg.Slack.SocketMode {
			a.runners = append(a.runners, a.Slack.RunSocketMode)
		} else {
			a.Slack.Mount(a.mux)
		}
		a.waiters = append(a.waiters, a.Slack.Wait)
	}
	if discordClient != nil {
		if err := a.Bot.AddPlatform(discordClient); err != nil {
			return nil, err
		}
		a.Discord, err = discord.NewServer(discordClient, discord.ServerOptions{
			PublicKey:   cfg.Discord.PublicKey,
			Handler:     handler,
			Links:       links,
			Requestable: a.Service.Requestable,
			Audit:       db,
			Clock:       o.Clock,
			Log:         log,
		})
		if err != nil {
			return nil, fmt.Errorf("discord: %w", err)
		}
		if cfg.Discord.Gateway {
			a.runners = append(a.runners, a.Discord.RunGateway)
		} else {
			a.Discord.Mount(a.mux)
		}
		a.waiters = append(a.waiters, a.Discord.Wait)
	}
	if cfg.Web.Enabled {
		if err := a.addWeb(cfg, o.Clock, log); err != nil {
			return nil, err
		}
	}

	for _, f := range a.Sinks {
		name, f := f.Name(), f
		a.Metrics.Registry().MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "accessbot_audit_sink_lag_events",
			Help:        "Audit events not yet acknowledged by the SIEM sink.",
			ConstLabels: prometheus.Labels{"sink": name},
		}, func() float64 { return float64(f.Lag()) }))
	}

	if cfg.Digest.Enabled() {
		// The weekly digest, posted to each platform's security channel unless configured.
		start, end := cfg.Digest.WorkHours()
		runner, err := bot.NewDigestRunner(a.Bot, bot.DigestOptions{
			Store: db, Schedule: cfg.Digest.Schedule, Location: cfg.Location(), Period: cfg.Digest.Period,
			Digest: digest.Options{WorkingHours: digest.WorkingHours{Days: cfg.Digest.WorkDays(), Start: start, End: end}},
			Channels: cfg.Digest.ChannelsFor(map[string]string{slack.PlatformName: cfg.Slack.AlertChannel(),
				discord.PlatformName: cfg.Discord.AlertChannel(), web.PlatformName: web.ChannelSecurity}),
			Chart: cfg.Digest.ChartEnabled(), Log: log,
		})
		if err != nil {
			return nil, fmt.Errorf("digest: %w", err)
		}
		a.runners = append(a.runners, runner.Run)
	}

	checkers := map[string]adapters.Checker{}
	for _, r := range a.Resources {
		if c, ok := r.Adapter.(adapters.Checker); ok {
			checkers[r.Name] = c
		}
	}
	ops.Mount(a.mux, &ops.Health{DB: db, Checkers: checkers}, a.Metrics)
	ok = true
	return a, nil
}

// addWeb wires the local web chat: its people from the config, the Bot as its handler, its
// page and API under /chat/.
func (a *App) addWeb(cfg *config.Config, clk clock.Clock, log zerolog.Logger) error {
	var people []web.Person
	for _, p := range cfg.WebPeople() {
		people = append(people, web.Person{ID: p.ID, Name: p.Name, Email: p.Email, Role: p.Role})
	}
	chat, err := web.New(web.Options{
		People: people, Handler: a.Bot, Clock: clk, Log: log, AllowRemote: cfg.Web.AllowRemote,
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

// Mux is the HTTP mux, for the chat platforms to mount their endpoints on.
func (a *App) Mux() *http.ServeMux { return a.mux }

// Run records the config in force, serves HTTP and runs the scheduler until ctx is done, then
// shuts down gracefully: the HTTP server drains, and adapter calls in flight finish.
func (a *App) Run(ctx context.Context) error {
	if err := a.recordConfig(ctx); err != nil {
		return err
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
// changed. The hash is of the file before ${...} expansion: no secret is in it.
func (a *App) recordConfig(ctx context.Context) error {
	_, err := a.DB.AppendAudit(ctx, audit.Event{At: a.clock.Now(), Actor: grants.System.ID}.With(audit.ConfigLoadedData{
		ConfigSHA256: a.Config.Hash(), Resources: len(a.Resources), Version: Version,
	}))
	if err != nil {
		return fmt.Errorf("record config in audit log: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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

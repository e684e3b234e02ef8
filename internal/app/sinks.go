package app

import (
	"fmt"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/storage"
)

// newAuditSink builds the Forwarder of one configured SIEM sink. It does no I/O.
func newAuditSink(sc config.AuditSink, db *storage.DB, clk clock.Clock, log zerolog.Logger) (*sink.Forwarder, error) {
	var (
		s   sink.Sink
		err error
	)
	switch sc.Type {
	case config.SinkWebhook:
		s, err = sink.NewWebhook(sink.WebhookOptions{URL: sc.URL, Secret: []byte(sc.Secret.Reveal()),
			Timeout: sc.Timeout, Headers: sc.Headers, Clock: clk})
	case config.SinkSyslog:
		facility := sc.FacilityCode()
		s, err = sink.NewSyslog(sink.SyslogOptions{Address: sc.Address, TLS: sc.TLS, CAFile: sc.CAFile,
			ServerName: sc.ServerName, CertFile: sc.CertFile, KeyFile: sc.KeyFile, Facility: &facility,
			Hostname: sc.Hostname, Timeout: sc.Timeout, MaxMessageSize: int(sc.MaxMessageSize)})
	case config.SinkRELP:
		facility := sc.FacilityCode()
		s, err = sink.NewRELP(sink.SyslogOptions{Address: sc.Address, TLS: sc.TLS, CAFile: sc.CAFile,
			ServerName: sc.ServerName, CertFile: sc.CertFile, KeyFile: sc.KeyFile, Facility: &facility,
			Hostname: sc.Hostname, Timeout: sc.Timeout, MaxMessageSize: int(sc.MaxMessageSize)}, 0)
	case config.SinkFile:
		s, err = sink.NewFile(sink.FileOptions{Path: sc.Path, MaxSize: int64(sc.MaxSize), MaxFiles: sc.MaxFiles})
	default:
		err = fmt.Errorf("unknown sink type %q", sc.Type)
	}
	if err != nil {
		return nil, err
	}
	return sink.New(sink.Options{Name: sc.Name, Sink: s, Store: db, Clock: clk, Log: log, Batch: sc.Batch, Locker: db})
}

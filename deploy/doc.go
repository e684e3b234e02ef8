// Package deploy holds what operators deploy beside accessbot: the Grafana dashboard
// (grafana/accessbot.json) and the Prometheus alert rules (prometheus/alerts.yaml). It has no
// code; its tests check that the dashboard and the rules name only metrics a running accessbot
// exports, and run promtool's rule checks and unit tests (prometheus/alerts_test.yaml).
package deploy

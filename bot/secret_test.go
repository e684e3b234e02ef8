package bot_test

import (
	"testing"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

func TestTheSecretDMCarriesTheValueAsASecretNotAField(t *testing.T) {
	value := "apiVersion: v1\nkind: Config\n"
	v := bot.SecretView(*goldenGrant(grants.GrantActive), &adapters.Secret{Kind: "kubeconfig", Value: value}, now)
	if v.Secret == nil || v.Secret.Value != value || v.Secret.Label != "kubeconfig" || v.Secret.FileName != "prod-db.kubeconfig" {
		t.Errorf("secret = %+v, want the value whole, labelled by its kind, in prod-db.kubeconfig", v.Secret)
	}
	if len(v.Fields) != 0 {
		t.Errorf("fields %+v: a field is cut by platforms, the secret must not be one", v.Fields)
	}
}

func TestASecretsFileNameIsSafeWhateverTheKind(t *testing.T) {
	tests := []struct {
		resource, kind, want string
	}{
		{"k8s-prod", "kubeconfig", "k8s-prod.kubeconfig"},
		{"prod-db", "password", "prod-db.password"},
		{"prod-db", "ssh certificate", "prod-db.ssh-certificate"},
		{"prod-db", "../../etc/passwd", "prod-db.etc-passwd"},
		{"prod-db", "", "prod-db.secret"},
		{"", "token", "access.token"},
		{"prod-db", "clé`x", "prod-db.cl--x"},
	}
	for _, tt := range tests {
		if got := bot.SecretFileName(tt.resource, tt.kind); got != tt.want {
			t.Errorf("SecretFileName(%q, %q) = %q, want %q", tt.resource, tt.kind, got, tt.want)
		}
	}
}

package mysql_test

import (
	"slices"
	"testing"

	"github.com/accessbot/accessbot/adapters/mysql"
	"github.com/accessbot/accessbot/config"
)

// readmeExample is the config example of the README paragraph: it must load as written.
const readmeExample = `groups:
  sre: [alice@example.com]
resources:
  - name: shop-db
    adapter:
      type: mysql
      dsn: "${SHOP_DB_BOT_DSN}"      # accessbot:...@tcp(db:3306)/?tls=true
      host: "10.0.%"                 # where the person connects from; default '%'
      grants:
        - SELECT ON shop.*
        - SELECT, INSERT, UPDATE ON shop.orders
      # or, instead of grants: roles: [shop_reader]
    policy:
      approvers: [sre]
`

func TestTheREADMEExampleLoads(t *testing.T) {
	env := map[string]string{"SHOP_DB_BOT_DSN": "accessbot:s3cret@tcp(db.example.com:3306)/?tls=true"}
	c, err := config.Parse("example.yaml", []byte(readmeExample), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("the README example does not load:\n%v", err)
	}
	got := c.Resources[0].Adapter.Config.(*mysql.Config)
	if got.Host != "10.0.%" || !slices.Equal(got.Grants, []string{"SELECT ON shop.*", "SELECT, INSERT, UPDATE ON shop.orders"}) ||
		got.UserPrefix != "ab_" || string(got.DSN) != env["SHOP_DB_BOT_DSN"] {
		t.Errorf("decoded %+v", *got)
	}
}

package bottest

import (
	"encoding/base64"
	"math/rand/v2"
	"strings"
)

// Kubeconfig returns a kubeconfig of exactly size bytes shaped like the one the kubernetes
// adapter's token mode hands over: YAML whose indentation matters, the cluster's CA certificate
// as base64 (with + / and =), and a service account token, a JWT of base64url parts (with - and
// _). Its first line is a comment with < > and &, which a renderer that escapes text for Slack
// or Discord would change. The same size gives the same text. The skeleton and the token take
// about 1,200 bytes: a smaller size gives that.
func Kubeconfig(size int) string {
	rng := rand.New(rand.NewPCG(uint64(size), 16))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	jwt := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"k8s-prod-sa-key"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(random(300)) + "." + base64.RawURLEncoding.EncodeToString(random(256))
	head := "# kubeconfig for <k8s-prod> & grant g-1 (written by accessbot)\n" +
		"apiVersion: v1\nkind: Config\nclusters:\n- name: k8s-prod\n  cluster:\n" +
		"    server: https://k8s-prod.example.com:6443\n    certificate-authority-data: "
	tail := "\nusers:\n- name: accessbot-g-1\n  user:\n    token: " + jwt + "\n" +
		"contexts:\n- name: k8s-prod\n  context:\n    cluster: k8s-prod\n    user: accessbot-g-1\n" +
		"    namespace: payments\ncurrent-context: k8s-prod\npreferences: {}\n"
	// The CA data fills the rest: base64 of random bytes, cut to length (still base64's
	// alphabet, which is all that matters here).
	room := max(size-len(head)-len(tail), 4)
	ca := base64.StdEncoding.EncodeToString(random(room))[:room]
	var b strings.Builder
	b.Grow(size)
	b.WriteString(head)
	b.WriteString(ca)
	b.WriteString(tail)
	return b.String()
}

package layout

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unclosedFence returns the line (from 1) of a ``` fence that opens a code block no later fence
// closes, or 0 when every fence is paired. One stray fence turns the rest of a page into code
// (README's "## Operations" was rendered so).
func unclosedFence(text string) int {
	open := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		if !strings.HasPrefix(strings.TrimLeft(sc.Text(), " \t"), "```") {
			continue
		}
		if open == 0 {
			open = n
		} else {
			open = 0
		}
	}
	return open
}

func TestUnclosedFenceFindsAStrayFence(t *testing.T) {
	tests := []struct {
		name string
		text string
		want int
	}{
		{"a page without code has nothing to close", "# Title\n\ntext\n", 0},
		{"a closed block is paired", "text\n```sh\nmake\n```\n", 0},
		{"an indented block in a list item is paired", "- step:\n  ```yaml\n  a: 1\n  ```\n", 0},
		{"a stray fence after prose opens a block to the end", "```\ncode\n```\ntext\n```\n\n## Operations\n", 5},
		{"a block never closed is found at its opening", "text\n```go\nx := 1\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unclosedFence(tt.text); got != tt.want {
				t.Errorf("unclosedFence = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestEveryCodeFenceInTheDocsIsClosed reads README.md, the other top-level pages and docs/*.md.
func TestEveryCodeFenceInTheDocsIsClosed(t *testing.T) {
	root := filepath.Join("..", "..")
	var pages []string
	for _, pattern := range []string{"*.md", filepath.Join("docs", "*.md")} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, m...)
	}
	if len(pages) == 0 {
		t.Fatal("no Markdown pages found")
	}
	sawReadme := false
	for _, p := range pages {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		sawReadme = sawReadme || rel == "README.md"
		if n := unclosedFence(string(raw)); n != 0 {
			t.Errorf("%s:%d: this ``` fence is never closed: an odd number of fences makes the rest of the page code", rel, n)
		}
	}
	if !sawReadme {
		t.Error("README.md was not checked")
	}
}

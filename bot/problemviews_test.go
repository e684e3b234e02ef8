package bot_test

import (
	"testing"

	"github.com/accessbot/accessbot/bot"
)

func TestFormErrorsViewListsTheErrorsInInputOrderUnderTheFix(t *testing.T) {
	v := bot.FormErrorsView(map[string]string{"reason": "say why", "duration": "at most 8h"}, "Send it again.")
	if v.Title != "Your form was not accepted" || v.Text != "Send it again." || v.Tone != bot.ToneDanger {
		t.Errorf("view %+v", v)
	}
	want := []bot.Field{{Label: "duration", Value: "at most 8h"}, {Label: "reason", Value: "say why"}}
	if len(v.Fields) != len(want) || v.Fields[0] != want[0] || v.Fields[1] != want[1] {
		t.Errorf("fields %+v, want %+v", v.Fields, want)
	}
}

package bot

import "sort"

// ProblemView is what a person is told when accessbot cannot do what they asked: one sentence
// under "Sorry".
func ProblemView(text string) View {
	return View{Title: "Sorry", Text: text, Tone: ToneDanger}
}

// FormErrorsView lists what was wrong in a submitted form, a field per input ID in ID order,
// under fix: the platform's sentence for how to send it again.
func FormErrorsView(errs map[string]string, fix string) View {
	ids := make([]string, 0, len(errs))
	for id := range errs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	v := View{Title: "Your form was not accepted", Text: fix, Tone: ToneDanger}
	for _, id := range ids {
		v.Fields = append(v.Fields, Field{Label: id, Value: errs[id]})
	}
	return v
}

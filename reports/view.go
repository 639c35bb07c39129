package reports

import (
	"fmt"
	"strings"
	"time"

	"github.com/bailiff/bailiff/pkg/compliance"
)

// view is what the documents for people (HTML and PDF) show, worked out once from a
// report: formatted times, truncated evidence lists, the cover's facts.
type view struct {
	R            *Report
	Title        string
	Subtitle     string
	Generated    string
	Period       string
	Frameworks   string
	SignedBy     string
	Broken       []string // one line per cluster whose trail is broken
	MaxResources int
	Clusters     []clusterView
}

type clusterView struct {
	*ClusterReport
	Anchor     string
	TrailLine  string
	Frameworks []frameworkView
}

type frameworkView struct {
	*FrameworkResult
	Info   FrameworkInfo
	Anchor string
	Score  string
	Tally  string
}

type controlView struct {
	*ControlResult
	Shown []ResourceEvidence
	More  int
}

const timeLayout = "2006-01-02 15:04:05 UTC"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}

func newView(r *Report, opts RenderOptions) *view {
	v := &view{R: r, Generated: formatTime(r.GeneratedAt), MaxResources: opts.MaxResources}
	switch {
	case r.Scope == ScopeFleet:
		v.Title = "Compliance report: fleet"
		v.Subtitle = fmt.Sprintf("%d clusters: %s", len(r.Clusters), strings.Join(clusterNames(r), ", "))
	case len(r.Clusters) == 1:
		v.Title = "Compliance report: " + r.Clusters[0].Cluster
		v.Subtitle = "Cluster " + r.Clusters[0].Cluster
	default:
		v.Title = "Compliance report"
	}
	from := "the start of the trail"
	if !r.Period.From.IsZero() {
		from = formatTime(r.Period.From)
	}
	v.Period = from + " to " + formatTime(r.Period.To)
	var names []string
	for _, f := range r.Frameworks {
		names = append(names, fmt.Sprintf("%s %s", f.Name, f.Version))
	}
	v.Frameworks = strings.Join(names, "; ")
	v.SignedBy = "not signed"
	if r.Signature != nil {
		v.SignedBy = r.Signature.Algorithm + ", key " + r.Signature.KeyID
	}
	for i := range r.Clusters {
		c := &r.Clusters[i]
		cv := clusterView{ClusterReport: c, Anchor: "c-" + anchor(c.Cluster), TrailLine: trailLine(c.Trail)}
		if c.Trail.Broken() {
			v.Broken = append(v.Broken, fmt.Sprintf("%s: the trail is BROKEN at seq %d (event %s): %s", c.Cluster, c.Trail.Break.Seq, c.Trail.Break.EventID, c.Trail.Break.Reason))
		}
		for j := range c.Frameworks {
			fr := &c.Frameworks[j]
			t := fr.Controls
			cv.Frameworks = append(cv.Frameworks, frameworkView{
				FrameworkResult: fr, Info: r.FrameworkInfo(fr.Framework),
				Anchor: cv.Anchor + "-" + fr.Framework, Score: compliance.FormatScore(fr.Score),
				Tally: fmt.Sprintf("%d pass, %d fail, %d n/a, %d manual", t.Pass, t.Fail, t.NotApplicable, t.Manual),
			})
		}
		v.Clusters = append(v.Clusters, cv)
	}
	return v
}

// Controls returns a framework's controls with their evidence cut to the cap.
func (v *view) Controls(f frameworkView) []controlView {
	out := make([]controlView, len(f.Results))
	for i := range f.Results {
		c := &f.Results[i]
		cv := controlView{ControlResult: c, Shown: c.Failing}
		if v.MaxResources > 0 && len(c.Failing) > v.MaxResources {
			cv.Shown, cv.More = c.Failing[:v.MaxResources], len(c.Failing)-v.MaxResources
		}
		out[i] = cv
	}
	return out
}

func trailLine(t TrailRange) string {
	switch t.Status {
	case TrailEmpty:
		return "no events in the period"
	case TrailBroken:
		return fmt.Sprintf("BROKEN at seq %d: %s; %d events before it verified (seq %d to %d)", t.Break.Seq, t.Break.Reason, t.Events, t.FromSeq, t.ToSeq)
	}
	return fmt.Sprintf("intact: %d events, seq %d to %d, last hash %s", t.Events, t.FromSeq, t.ToSeq, t.LastHash)
}

func clusterNames(r *Report) []string {
	var out []string
	for _, c := range r.Clusters {
		out = append(out, c.Cluster)
	}
	return out
}

// anchor makes a string safe as an HTML id.
func anchor(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// resourceName is kind namespace/name.
func resourceName(r ResourceEvidence) string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// eventList prints trail events as seq:id.
func eventList(v ViolationEvidence) string {
	var out []string
	for _, e := range v.Events {
		out = append(out, fmt.Sprintf("#%d %s", e.Seq, e.ID))
	}
	return strings.Join(out, ", ")
}

package reports

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// CSVHeader names the CSV rendering's columns.
var CSVHeader = []string{
	"report_id", "cluster", "framework", "control", "title", "status", "reason",
	"api_version", "kind", "namespace", "name", "uid", "first_seen",
	"policies", "messages", "findings", "trail_events",
}

// WriteCSV writes one row per control per failing resource, and one row with empty
// resource columns for each control with none, so every control of every cluster
// appears. Several violations of one resource are joined with " | ", trail events
// as seq:id.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, c := range r.Clusters {
		for _, fw := range c.Frameworks {
			for _, res := range fw.Results {
				base := []string{r.ID, c.Cluster, fw.Framework, res.Control, res.Title, string(res.Status), res.Reason}
				if len(res.Failing) == 0 {
					if err := cw.Write(append(base, make([]string, len(CSVHeader)-len(base))...)); err != nil {
						return err
					}
					continue
				}
				for _, re := range res.Failing {
					var policies, messages, findings, events []string
					for _, v := range re.Violations {
						if !slices.Contains(policies, v.Policy) {
							policies = append(policies, v.Policy)
						}
						messages = append(messages, v.Policy+": "+v.Message)
						findings = append(findings, v.Finding)
						for _, e := range v.Events {
							events = append(events, fmt.Sprintf("%d:%s", e.Seq, e.ID))
						}
					}
					row := append(base[:len(base):len(base)], re.APIVersion, re.Kind, re.Namespace, re.Name, re.UID,
						re.FirstSeen.UTC().Format(time.RFC3339Nano), strings.Join(policies, " "),
						strings.Join(messages, " | "), strings.Join(findings, " "), strings.Join(events, " "))
					if err := cw.Write(row); err != nil {
						return err
					}
				}
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

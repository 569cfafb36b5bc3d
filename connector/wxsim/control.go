package wxsim

import (
	"maps"
	"net/http"
	"strconv"
)

// controlPrefix starts the simulator's own endpoints, for scripts driving a
// wxsim process (tests in the same process call the methods directly).
// They are not API calls: not counted, no latency, no faults.
//
//	GET  /wxsim/state                    {"total":T,"calls":{...},"quota_used":{...},"tokens_issued":[...]}
//	POST /wxsim/revoke                   Revoke()
//	POST /wxsim/reset-quota              ResetQuota()
//	POST /wxsim/reset-calls              ResetCalls()
//	POST /wxsim/churn?add=A&remove=R     AddFollowers(A), RemoveFollowers(R); answers {"total":T,"added":A,"removed":R}
const controlPrefix = "/wxsim/"

func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path[len(controlPrefix):]
	want := http.MethodPost
	if path == "state" {
		want = http.MethodGet
	}
	if r.Method != want {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var v any = map[string]string{"result": "ok"}
	switch path {
	case "state":
		s.mu.Lock()
		used := maps.Clone(s.used)
		s.mu.Unlock()
		v = map[string]any{"total": s.Total(), "calls": s.Calls(), "quota_used": used, "tokens_issued": s.TokensIssued()}
	case "revoke":
		s.Revoke()
	case "reset-quota":
		s.ResetQuota()
	case "reset-calls":
		s.ResetCalls()
	case "churn":
		add, err1 := strconv.Atoi(r.URL.Query().Get("add"))
		rm, err2 := strconv.Atoi(r.URL.Query().Get("remove"))
		if err1 != nil || err2 != nil || add < 0 || rm < 0 {
			http.Error(w, "want ?add=N&remove=M (non-negative integers)", http.StatusBadRequest)
			return
		}
		a, d := s.AddFollowers(add), s.RemoveFollowers(rm)
		v = map[string]int{"total": s.Total(), "added": len(a), "removed": len(d)}
	default:
		http.NotFound(w, r)
		return
	}
	s.write(w, jsonReply(v))
}

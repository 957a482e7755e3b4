#!/usr/bin/env bash
# `make run`: a verification on the command line, then the service on its embedded SQLite database,
# with an API key, a consent and a verification made through the HTTP API, left running in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
idv=target/release/idv
samples=testdata/face_recognition
listen=${IDV_LISTEN:-127.0.0.1:8080}
database=${IDV_DATABASE:-sqlite://idv.db}

passport=target/demo-passport.jpg
echo "== idv specimen: a specimen passport (marked SPECIMEN, OCR-B machine-readable zone) with obama.jpg's face,"
echo "   photographed at a slight angle, turned 90°: $passport"
"$idv" specimen --face "$samples/obama.jpg" --out "$passport" --surname Obama --given-names "Barack Hussein" \
  --date-of-birth 1961-08-04 --sex M --number X4K7P2Q91 --rotation 90
echo
echo "== idv document: its machine-readable zone read and checked"
"$idv" document "$passport" --surname Obama --given-names "Barack Hussein" --date-of-birth 1961-08-04
echo
echo "== idv verify: the passport vs obama3.jpg (as the selfie), with the identity the applicant declared"
"$idv" verify --document "$passport" --selfie "$samples/obama3.jpg" \
  --surname Obama --given-names "Barack Hussein" --date-of-birth 1961-08-04
echo
echo "== idv verify: the passport vs biden.jpg"
"$idv" verify --document "$passport" --selfie "$samples/biden.jpg"
echo

echo "== idv serve on $database, listening on $listen"
"$idv" serve --listen "$listen" --database "$database" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 100); do
  curl -fsS "http://$listen/ready" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { echo "the service did not start (is $listen in use? set IDV_LISTEN)" >&2; exit 1; }
  sleep 0.1
done

key=$("$idv" keys create --org demo --role submitter --label "make run demo" --database "$database" | tail -n 1)
echo "== a submitter API key for organisation 'demo' (shown once): $key"
consent=$(curl -fsS "http://$listen/v1/consents" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"subject_ref":"demo-applicant-1","purpose":"ecs_application","lawful_basis":"explicit_consent","notice_version":"2026-11"}')
echo "== POST /v1/consents → $consent"
consent_ref=$(printf '%s' "$consent" | python3 -c 'import json,sys; print(json.load(sys.stdin)["consent_ref"])')
echo "== POST /v1/verifications (document: the specimen passport, selfie obama3.jpg, the declared identity)"
curl -fsS "http://$listen/v1/verifications" -H "Authorization: Bearer $key" \
  -F document=@"$passport" -F selfie=@"$samples/obama3.jpg" \
  -F 'declared={"surname":"Obama","given_names":"Barack Hussein","date_of_birth":"1961-08-04"};type=application/json' \
  -F subject_ref=demo-applicant-1 -F consent_ref="$consent_ref" -F purpose=ecs_application |
  python3 -c 'import json,sys; v=json.load(sys.stdin); print(json.dumps({k: v[k] for k in ("id","decision","comparison","consent_ref","reasons","scores","document")}, indent=2))'
echo
auditor=$("$idv" keys create --org demo --role auditor --label "make run demo" --database "$database" | tail -n 1)
echo "== GET /v1/subjects/demo-applicant-1/export (auditor): what idv holds about the applicant, sealed at rest"
curl -fsS "http://$listen/v1/subjects/demo-applicant-1/export" -H "Authorization: Bearer $auditor" |
  python3 -c 'import json,sys; e=json.load(sys.stdin); print(json.dumps({"consents": len(e["consents"]), "verifications": len(e["verifications"]), "media": [m["kind"] for m in e["media"]], "audit_events": [a["event"] for a in e["audit_events"]]}, indent=2))'
echo
link=$(curl -fsS "http://$listen/v1/capture-links" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"subject_ref":"demo-applicant-2","purpose":"ecs_application","external_ref":"demo-application-2"}')
echo "== POST /v1/capture-links → a one-time link to the applicant capture page (notice, consent, document,"
echo "   challenge video and selfie from the camera). Open it in a browser on this machine (a camera is needed"
echo "   from step 3; browsers allow cameras on localhost or HTTPS only):"
printf '%s' "$link" | python3 -c 'import json,sys; print("   " + json.load(sys.stdin)["url"])'
echo
echo "idv is running at http://$listen (API reference: http://$listen/docs). Ctrl-C stops it."
# The server's own status is the script's: 0 after a graceful stop (Ctrl-C, SIGTERM). The EXIT trap is
# for an early failure; under `set -e` its failing `kill` of a server already gone would turn 0 into 1.
status=0
wait $server || status=$?
trap - EXIT
exit $status

#!/usr/bin/env bash
# Send bizos a Stripe payment_intent.succeeded event signed the way Stripe signs it:
# Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<exact body>">, keyed
# with the workspace's stripe webhook_secret; t must be within 5 minutes of the server's
# clock. Jon pays 40.95 without naming an invoice, so bizos matches his open invoice by
# email and amount (metadata.invoice_number would name one).
#   STRIPE_SECRET=whsec_... scripts/webhooks/stripe.sh     # BIZOS, TENANT optional
set -euo pipefail
BIZOS=${BIZOS:-http://127.0.0.1:8000} TENANT=${TENANT:-demo}
: "${STRIPE_SECRET:?set STRIPE_SECRET to the Stripe webhook secret of the workspace}"

NOW=$(date +%s)
cat > event.json <<EOF
{"id": "evt_$(openssl rand -hex 12)", "object": "event", "type": "payment_intent.succeeded",
 "created": $NOW, "data": {"object": {
   "id": "pi_$(openssl rand -hex 12)", "object": "payment_intent", "status": "succeeded",
   "amount": 4095, "amount_received": 4095, "currency": "usd", "created": $NOW,
   "receipt_email": "jon.buyer@example.com", "metadata": {}}}}
EOF
V1=$( { printf '%s.' "$NOW"; cat event.json; } \
  | openssl dgst -sha256 -hmac "$STRIPE_SECRET" | awk '{print $NF}')
curl -sS --fail-with-body -X POST "$BIZOS/webhooks/stripe/$TENANT" \
  -H 'Content-Type: application/json' \
  -H "Stripe-Signature: t=$NOW,v1=$V1" \
  --data-binary @event.json
echo

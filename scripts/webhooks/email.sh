#!/usr/bin/env bash
# Send bizos a support email the way a mail provider's inbound webhook would: the raw
# RFC 5322 message as the body, X-Bizos-Signature: sha256=<hex HMAC-SHA256 of the exact
# bytes>, keyed with the workspace's email webhook_secret. It opens a ticket.
#   EMAIL_SECRET=... scripts/webhooks/email.sh             # BIZOS, TENANT optional
set -euo pipefail
BIZOS=${BIZOS:-http://127.0.0.1:8000} TENANT=${TENANT:-demo}
: "${EMAIL_SECRET:?set EMAIL_SECRET to the email webhook secret of the workspace}"

cat > message.eml <<EOF
From: Jon Buyer <jon.buyer@example.com>
To: support@northwind.example
Subject: Cold brew kit: is the filter reusable?
Date: $(date -R)
Message-ID: <$(openssl rand -hex 12)@example.com>
Content-Type: text/plain; charset=utf-8

Hi, before I order: can the cold brew filter be washed and reused?
Thanks, Jon
EOF
SIG=$(openssl dgst -sha256 -hmac "$EMAIL_SECRET" message.eml | awk '{print $NF}')
curl -sS --fail-with-body -X POST "$BIZOS/webhooks/email/$TENANT" \
  -H 'Content-Type: message/rfc822' \
  -H "X-Bizos-Signature: sha256=$SIG" \
  --data-binary @message.eml
echo

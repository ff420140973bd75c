"""Signs one S3 request with botocore's own SigV4 signer and prints the
signature, so tests can cross-check usbd's signer against the reference.

usage: botocore_sign.py METHOD PATH AMZ_DATE REGION KEY_ID SECRET TOKEN
                        PAYLOAD_SHA256 [q:NAME=VALUE | h:NAME=VALUE]...
PATH is decoded (botocore percent-encodes it as its S3 serializer does);
the secret comes from argv only in tests, with made-up keys.
"""
import sys

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode


def main(argv):
    method, path, amz_date, region, key_id, secret, token, payload = argv[:8]
    params, headers = {}, {}
    for arg in argv[8:]:
        kind, _, pair = arg.partition(":")
        name, _, value = pair.partition("=")
        (params if kind == "q" else headers)[name] = value
    url = "http://host.example" + percent_encode(path, safe="/~")
    headers["X-Amz-Date"] = amz_date
    headers["X-Amz-Content-SHA256"] = payload
    if token:
        headers["X-Amz-Security-Token"] = token
    request = AWSRequest(method=method, url=url, params=params,
                         headers=headers)
    request.context["timestamp"] = amz_date
    auth = S3SigV4Auth(Credentials(key_id, secret, token or None), "s3",
                       region)
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    print(auth.signature(string_to_sign, request))


if __name__ == "__main__":
    main(sys.argv[1:])

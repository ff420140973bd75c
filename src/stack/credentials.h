// The secrets behind the options: S3 credentials, the HTTP store's static
// header and the encryption password, read after ParseOptions() from files,
// the environment or argv. Files are read with open/read straight into
// secure memory (crypto/secure_memory.h), and every secret is returned as
// a SecretString: no stdio buffer, std::string or freed heap block ever
// holds one. (The environment's own copy, and the kernel's page cache of a
// file, are out of usbd's hands.) No message returned here ever contains a
// secret (a secret key, a session token, a header value, a password, or a line
// of a credentials or password file); access key ids, variable names and file
// names may appear.
#ifndef USBD_STACK_CREDENTIALS_H_
#define USBD_STACK_CREDENTIALS_H_

#include <functional>
#include <string>

#include "config/options.h"
#include "http/s3_store.h"
#include "util/status.h"

namespace usbd {

using GetEnvFunction = std::function<const char*(const char*)>;

// The S3 credentials `options` and the environment give, first match wins:
//
//  1. --accessKey=KEY or --accessKeyEnv=VAR (the secret is then VAR's
//     value), with --accessId=ID, which is required with either. Giving
//     both is an error; so is an unset or empty VAR.
//  2. The access file: --accessFile=FILE, or else $HOME/.s3backer_passwd if
//     it exists. s3backer's format: one "accessId:accessKey" per line; blank
//     lines and lines starting with '#' are skipped; surrounding white space
//     is ignored; the key is everything after the first ':'. The line whose
//     id is --accessId is used, or the first line when there is no
//     --accessId. A line without ':' is an error (FILE:LINE, not the line).
//     An explicit --accessFile that cannot be read, or has no matching
//     line, is an error; a default file without a match is passed over.
//  3. The environment: AWS_SECRET_ACCESS_KEY with AWS_ACCESS_KEY_ID (or
//     --accessId when AWS_ACCESS_KEY_ID is unset; when both are set they
//     must be equal) and AWS_SESSION_TOKEN if set. Only here is a session
//     token used.
//  4. The AWS shared credentials file, as the AWS CLI reads it:
//     $AWS_SHARED_CREDENTIALS_FILE, or else $HOME/.aws/credentials if it
//     exists; the profile $AWS_PROFILE (or $AWS_DEFAULT_PROFILE, else
//     "default"), a "[NAME]" (or "[profile NAME]") section with
//     aws_access_key_id, aws_secret_access_key and optionally
//     aws_session_token. With --accessId, only a profile of that id is
//     used. A profile named by AWS_PROFILE that is not there is an error;
//     so is a profile without both keys.
//
// Otherwise EINVAL: "no S3 credentials: use --accessFile, --accessId with
// --accessKeyEnv, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY" (or a more
// precise line when --accessId was given or only half of the AWS pair is
// set). `getenv` is injectable for tests; unset and "" are the same.
Result<AwsCredentials> ResolveCredentials(
    const Options& options, const GetEnvFunction& getenv = ::getenv);

// The header for HttpStoreOptions::header: --httpHeader as given, or the
// first line of --httpHeaderFile (a trailing newline, "\r\n" or not, is
// removed; the file must hold that one "Name: value" line and nothing
// else but blank lines), or "" when neither is set.
Result<SecretString> ResolveHttpHeader(const Options& options);

// The --encrypt password: --password as given, or the first line of
// --passwordFile (its line end, "\n" or "\r\n", removed; nothing else is
// trimmed: spaces are part of the password), or the value of the
// environment variable --passwordEnv names. EINVAL when none or more than
// one is set, when the file cannot be read or its first line is empty, or
// when the variable is unset or empty.
Result<SecretString> ResolvePassword(const Options& options,
                                     const GetEnvFunction& getenv = ::getenv);

}  // namespace usbd

#endif  // USBD_STACK_CREDENTIALS_H_

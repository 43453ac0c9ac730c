#pragma once

// What a file must look like before roam offers it to a server as a
// message. A Maildir holds whatever a user or a program put there, and a
// file that is not a message (a stray binary, a half-written file) must
// stay local: APPEND would put garbage on the server that every other
// client then shows.

#include <string>
#include <string_view>

namespace roam::maildir {

// Why `content` is not an RFC 5322 message, or an empty string if it can be
// uploaded. A message starts with a header block: one or more header
// fields, each a field name of printable ASCII (33-126) other than ':',
// optionally followed by spaces or tabs (obsolete syntax that old mail
// still uses), then ':' and a value; a line starting with a space or tab
// continues the field before it. The block ends at an empty line or at the
// end of the file. Lines end in LF or CRLF. A NUL byte or a bare CR in the
// header block is refused, as no mail format produces either there. The
// reason names the line, so that the user can look at the file.
std::string why_not_a_message(std::string_view content);

}  // namespace roam::maildir

// Content keys and the matching of uploads to their server copies: the
// identity rules of docs/sync-semantics.md that need no server.

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "sync/executor.hpp"

namespace roam::sync {
namespace {

TEST(ContentKey, AFileAndItsServerCopyHaveTheSameKey) {
  // The Maildir holds LF line ends; the server sends CRLF and counts them.
  std::string file = "From: a@example.org\nSubject: x\n\nbody\n";
  imap::HeaderInfo h;
  h.uid = 3;
  h.rfc822_size = file.size() + 4;  // Four line ends become CRLF.
  h.header = "From: a@example.org\r\nSubject: x\r\n\r\n";
  EXPECT_EQ(local_content_key(file), server_content_key(h));
  EXPECT_EQ(content_key_text(local_content_key(file)), content_key_text(server_content_key(h)));
}

TEST(ContentKey, CrlfFilesCountOnce) {
  // A file that already has CRLF line ends (some tools write them) has the
  // same key as one with LF.
  EXPECT_EQ(local_content_key("A: b\r\n\r\nx\r\n"), local_content_key("A: b\n\nx\n"));
}

TEST(ContentKey, AHeaderlessFileKeysOnItsWholeContent) {
  ContentKey k = local_content_key("no header block at all");
  EXPECT_EQ(k.header, "no header block at all");
  EXPECT_EQ(k.crlf_size, 22u);
}

TEST(ContentKey, AHeaderCyrusRewroteKeepsItsKey) {
  // Cyrus replaces each raw 8-bit header byte with 'X' on APPEND: the file
  // uploaded and its server copy must still be one message.
  std::string file = "From: J\xc3\xb6rg <j@example.org>\nSubject: x\n\nbody\n";
  imap::HeaderInfo h;
  h.uid = 3;
  h.rfc822_size = file.size() + 4;
  h.header = "From: JXXrg <j@example.org>\r\nSubject: x\r\n\r\n";
  EXPECT_EQ(content_key_text(local_content_key(file)), content_key_text(server_content_key(h)));
  // Other changes still give another key.
  h.header = "From: JYYrg <j@example.org>\r\nSubject: x\r\n\r\n";
  EXPECT_NE(content_key_text(local_content_key(file)), content_key_text(server_content_key(h)));
}

state::PendingUpload intent(std::string key, std::string message_id, std::uint64_t size) {
  return state::PendingUpload{"file", std::move(key), std::move(message_id), size, 10, {}};
}

TEST(MatchUpload, TheContentKeyComesFirst) {
  std::map<Uid, Candidate> candidates;
  candidates[11] = {"00000000000000aa", "<m@x>", 100};
  candidates[12] = {"00000000000000bb", "<m@x>", 100};
  EXPECT_EQ(match_upload(intent("00000000000000bb", "<m@x>", 100), candidates), 12u);
  EXPECT_TRUE(candidates[12].taken);
}

TEST(MatchUpload, MessageIdAndSizeFindACopyTheServerRewrote) {
  // Cyrus replaced 8-bit header bytes: the key differs, the Message-ID and
  // the size do not.
  std::map<Uid, Candidate> candidates;
  candidates[11] = {"00000000000000cc", "<m@x>", 100};
  EXPECT_EQ(match_upload(intent("00000000000000aa", "<m@x>", 100), candidates), 11u);
}

TEST(MatchUpload, ADifferentSizeIsNotTheCopy) {
  std::map<Uid, Candidate> candidates;
  candidates[11] = {"00000000000000cc", "<m@x>", 101};
  EXPECT_EQ(match_upload(intent("00000000000000aa", "<m@x>", 100), candidates), std::nullopt);
}

TEST(MatchUpload, WithoutAMessageIdOnlyTheKeyCounts) {
  std::map<Uid, Candidate> candidates;
  candidates[11] = {"00000000000000cc", "", 100};
  EXPECT_EQ(match_upload(intent("00000000000000aa", "", 100), candidates), std::nullopt);
}

TEST(MatchUpload, EachCandidateIsTakenOnce) {
  // Two identical uploads and one server copy: the second stays unmatched
  // rather than sharing a UID with the first.
  std::map<Uid, Candidate> candidates;
  candidates[11] = {"00000000000000aa", "<m@x>", 100};
  EXPECT_EQ(match_upload(intent("00000000000000aa", "<m@x>", 100), candidates), 11u);
  EXPECT_EQ(match_upload(intent("00000000000000aa", "<m@x>", 100), candidates), std::nullopt);
}

}  // namespace
}  // namespace roam::sync

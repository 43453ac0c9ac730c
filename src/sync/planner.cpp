#include "sync/planner.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "maildir/name.hpp"

namespace roam::sync {

namespace {

bool has(const std::string& letters, char c) {
  return letters.find(c) != std::string::npos;
}

bool pulls(const Policy& p) {
  return p.direction != Direction::Push;
}
bool pushes(const Policy& p) {
  return p.direction != Direction::Pull;
}

std::string plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Server flags without a Maildir letter (keywords such as $Label1): only the
// server holds them, so they pass through every merge unchanged.
Flags keywords_of(const Flags& flags) {
  Flags out;
  for (const auto& f : flags) {
    if (!maildir::letter_for_imap_flag(f)) {
      out.push_back(f);
    }
  }
  return out;
}

Flags flags_of(const std::string& letters, const Flags& keywords) {
  Flags out = maildir::imap_flags_from_letters(letters).imap_flags;
  out.insert(out.end(), keywords.begin(), keywords.end());
  state::normalize_flags(out);
  return out;
}

// Flags for the letters in `a` but not in `b`.
Flags letter_difference(const std::string& a, const std::string& b) {
  std::string diff;
  for (char c : a) {
    if (!has(b, c)) {
      diff += c;
    }
  }
  return maildir::imap_flags_from_letters(diff).imap_flags;
}

// The actions that bring one message's two sides to `merged` (each side
// only if the policy lets changes travel to it), and the record that
// results.
void reconcile(Plan& plan, const Policy& policy, Uid uid, const std::string& name,
               const Flags& server_flags, const std::string& local_letters,
               const std::string& merged, const state::MessageRecord* old_record,
               const std::string& key) {
  std::string server_letters = letters_of(server_flags);
  std::string local_known = maildir::known_letters(local_letters);
  std::string new_local = pulls(policy) ? merged : local_known;
  std::string new_server = pushes(policy) ? merged : server_letters;
  Flags keywords = keywords_of(server_flags);
  // The record holds what the side that does not receive changes has, so
  // that its own changes stay changes on the next run.
  Flags agreed;
  switch (policy.direction) {
    case Direction::Pull:
      agreed = server_flags;
      break;
    case Direction::Push:
      agreed = flags_of(local_known, keywords);
      break;
    case Direction::Both:
      agreed = flags_of(merged, keywords);
      break;
  }
  if (new_local != local_known) {
    plan.local_flags.push_back(
        {uid, name, local_letters, maildir::replace_known_letters(local_letters, new_local)});
  }
  if (new_server != server_letters) {
    plan.server_flags.push_back({uid, letter_difference(new_server, server_letters),
                                 letter_difference(server_letters, new_server)});
  }
  if (old_record == nullptr || old_record->flags != agreed || old_record->name != name ||
      old_record->key != key) {
    plan.updates.push_back({state::MessageRecord{uid, name, agreed, key}});
  }
}

bool over_limit(std::size_t deletions, std::size_t known, const Policy& policy) {
  return deletions > 0 && !policy.allow_mass_delete && known >= policy.mass_delete_min &&
         static_cast<double>(deletions) > policy.mass_delete_ratio * static_cast<double>(known);
}

std::string percent(double ratio) {
  return std::to_string(static_cast<int>(ratio * 100)) + "%";
}

}  // namespace

std::optional<ContentKey> key_without_tuid(const ContentKey& key) {
  // mbsync inserts "X-TUID: " and 12 characters as a header line of its
  // own (sync_msg_cvt.c); the key's header has LF line ends, and each line
  // counts one byte more in the CRLF size.
  std::size_t start = 0;
  while (start < key.header.size()) {
    std::size_t end = key.header.find('\n', start);
    std::size_t next = end == std::string::npos ? key.header.size() : end + 1;
    std::string_view line(key.header.data() + start, next - start);
    if (line == "\n") {
      break;  // The end of the header block.
    }
    if (line.size() > 7 && (line[0] == 'X' || line[0] == 'x') && (line[1] == '-') &&
        (line[2] == 'T' || line[2] == 't') && (line[3] == 'U' || line[3] == 'u') &&
        (line[4] == 'I' || line[4] == 'i') && (line[5] == 'D' || line[5] == 'd') &&
        line[6] == ':') {
      std::uint64_t removed = line.size() + (end == std::string::npos ? 0 : 1);
      if (removed > key.crlf_size) {
        return std::nullopt;
      }
      ContentKey bare;
      bare.header = key.header.substr(0, start) + key.header.substr(next);
      bare.crlf_size = key.crlf_size - removed;
      return bare;
    }
    start = next;
  }
  return std::nullopt;
}

std::string content_key_text(const ContentKey& key) {
  std::uint64_t hash = 14695981039346656037ull;
  auto mix = [&](std::string_view bytes) {
    for (char c : bytes) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ull;
    }
  };
  mix(std::to_string(key.crlf_size));
  mix("\n");
  // Every byte from 0x80 on counts as 'X': Cyrus replaces raw 8-bit header
  // bytes with 'X' on APPEND (same size), and the key of what was uploaded
  // must still be the key of the server copy, or a UIDVALIDITY change or a
  // move would take them for two messages.
  std::string header = key.header;
  for (char& c : header) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      c = 'X';
    }
  }
  mix(header);
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = k_hex[hash & 0xf];
    hash >>= 4;
  }
  return out;
}

std::string message_id_of(std::string_view header) {
  std::size_t pos = 0;
  while (pos < header.size()) {
    std::size_t end = header.find('\n', pos);
    if (end == std::string_view::npos) {
      end = header.size();
    }
    std::string_view line = header.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line == "\r") {
      break;  // The end of the header block.
    }
    constexpr std::string_view k_name = "message-id:";
    if (line.size() < k_name.size() ||
        !std::equal(k_name.begin(), k_name.end(), line.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        })) {
      continue;
    }
    std::string value(line.substr(k_name.size()));
    // Folded continuation lines belong to the value.
    while (pos < header.size() && (header[pos] == ' ' || header[pos] == '\t')) {
      std::size_t next = header.find('\n', pos);
      if (next == std::string_view::npos) {
        next = header.size();
      }
      value += header.substr(pos, next - pos);
      pos = next + 1;
    }
    std::string out;
    for (char c : value) {
      if (c != ' ' && c != '\t' && c != '\r') {
        out += c;
      }
    }
    return out;
  }
  return {};
}

std::string letters_of(const Flags& flags) {
  return maildir::letters_from_imap_flags(flags).letters;
}

std::string merge_letters(const std::string* base, const std::string& server,
                          const std::string& local) {
  std::string out;
  for (const auto& row : maildir::k_flag_table) {
    char c = row.letter;
    bool s = has(server, c);
    bool l = has(local, c);
    bool result = false;
    if (base == nullptr) {
      result = s || l;
    } else {
      bool b = has(*base, c);
      result = (s != b) ? s : l;
    }
    if (result) {
      out += c;
    }
  }
  return out;
}

Plan plan_folder(const state::FolderState* state, const ServerFolder& server,
                 const LocalFolder& local, const Policy& policy) {
  FolderInput input;
  input.state = state;
  input.server = server;
  input.local = local;
  return plan_folder(input, policy);
}

Plan plan_folder(const FolderInput& in, const Policy& policy) {
  return complete_plan(plan_known(in, policy), in, policy);
}

KnownPlan plan_known(const FolderInput& in, const Policy& policy) {
  KnownPlan known_plan;
  Plan& plan = known_plan.plan;
  const state::FolderState* state = in.state;

  // A mail reader that copied a file leaves the same stable name twice; the
  // first one stands for the message and the copy is left alone (the
  // executor warns about it).
  // Views of the names in `in`, which outlives the plan: no copy of each of
  // 100,000 names on every plan.
  std::unordered_map<std::string_view, const LocalMessage*> local_by_name;
  local_by_name.reserve(in.local.messages.size());
  // Per local message, whether it is known or a copy: a record names it
  // (set by the loop over the records, which looks each name up anyway),
  // or it is not the first of its name. The messages left are the new
  // ones, found without hashing each of 100,000 names twice more.
  std::vector<char> local_taken(in.local.messages.size(), 0);
  for (std::size_t i = 0; i < in.local.messages.size(); ++i) {
    const LocalMessage& m = in.local.messages[i];
    if (!local_by_name.emplace(m.name, &m).second) {
      local_taken[i] = 1;
    }
  }
  std::unordered_map<Uid, const ServerMessage*> server_by_uid;
  server_by_uid.reserve(in.server.messages.size());
  for (const auto& m : in.server.messages) {
    server_by_uid.emplace(m.uid, &m);
  }

  // --- Messages the state knows ---
  std::vector<DeleteLocal> local_deletes;
  std::vector<DeleteServer> server_deletes;
  // Of those, deletions already made (the server copy carries \Deleted and
  // waits for an expunge that only UIDPLUS makes safe): they are repeated,
  // but they are not new deletions for the guard, which would otherwise
  // refuse every later run after a forced one.
  std::size_t deletions_made = 0;
  std::size_t& kept_local_deletions = known_plan.kept_local_deletions;
  std::size_t& kept_server_expunges = known_plan.kept_server_expunges;
  if (state != nullptr) {
    for (const auto& [uid, rec] : state->messages) {
      auto sit = server_by_uid.find(uid);
      auto lit = local_by_name.find(rec.name);
      bool on_server = sit != server_by_uid.end();
      bool on_local = lit != local_by_name.end();
      if (on_local) {
        local_taken[static_cast<std::size_t>(lit->second - in.local.messages.data())] = 1;
      }
      if (on_server && on_local) {
        std::string base = letters_of(rec.flags);
        std::string local_known = maildir::known_letters(lit->second->letters);
        std::string merged = merge_letters(&base, letters_of(sit->second->flags), local_known);
        reconcile(plan, policy, uid, rec.name, sit->second->flags, lit->second->letters, merged,
                  &rec, rec.key);
      } else if (on_server) {
        // The file is gone here: deleted by the user, or moved to another
        // folder. Deletion wins over a flag change on the server.
        auto moved = in.moved_out.find(rec.name);
        if (!pushes(policy)) {
          ++kept_local_deletions;
        } else if (moved != in.moved_out.end()) {
          plan.moves.push_back({uid, moved->second});
        } else if (policy.expunge == Expunge::Yes) {
          server_deletes.push_back({uid, true});
          if (has(letters_of(sit->second->flags), 'T')) {
            ++deletions_made;
          }
        } else if (!has(letters_of(sit->second->flags), 'T')) {
          server_deletes.push_back({uid, false});
        }
      } else if (on_local) {
        // The server expunged it. Deletion wins over a local flag change.
        if (!pulls(policy)) {
          ++kept_server_expunges;
        } else if (policy.expunge == Expunge::Yes) {
          local_deletes.push_back({uid, rec.name});
        } else if (!has(lit->second->letters, 'T')) {
          // Kept, marked deleted as mutt shows it, and remembered so that
          // two-way sync does not upload it again.
          std::string letters = lit->second->letters;
          plan.local_flags.push_back(
              {uid, rec.name, letters, maildir::normalize_letters(letters + "T")});
        }
      } else {
        plan.drops.push_back({uid});
      }
    }
  }

  // The mass-deletion guards: a listing glitch or a vanished local folder
  // must not empty the other side.
  std::size_t known = state != nullptr ? state->messages.size() : 0;
  if (over_limit(local_deletes.size(), known, policy)) {
    plan.refused = "the server no longer has " +
                   plural(local_deletes.size(), "message", "messages") + " of " +
                   std::to_string(known) +
                   " known in this folder; roam deletes nothing locally when more than " +
                   percent(policy.mass_delete_ratio) +
                   " would go (run with --force if the server really lost them)";
  } else {
    plan.local_deletes = std::move(local_deletes);
  }
  if (!server_deletes.empty() && in.local_folder_missing && !policy.allow_mass_delete) {
    plan.refused =
        "the local folder (or its cur/) is gone; roam deletes nothing on the server "
        "because of that (restore it, or run with --force to delete " +
        plural(server_deletes.size(), "message", "messages") + " on the server)";
  } else if (over_limit(server_deletes.size() - deletions_made, known - deletions_made, policy)) {
    plan.refused = plural(server_deletes.size() - deletions_made, "message", "messages") + " of " +
                   std::to_string(known - deletions_made) +
                   " known in this folder were deleted locally; roam deletes nothing on the "
                   "server when more than " +
                   percent(policy.mass_delete_ratio) +
                   " would go (run with --force if you meant it)";
  } else {
    plan.server_deletes = std::move(server_deletes);
  }

  // --- Messages the state does not know ---
  for (const auto& m : in.server.messages) {
    if (state == nullptr || state->messages.count(m.uid) == 0) {
      known_plan.new_server.push_back(&m);
    }
  }
  // Files moved in from another folder take part in the pairing (the
  // server may have moved their copies already) but are never uploaded.
  for (std::size_t i = 0; i < in.local.messages.size(); ++i) {
    const LocalMessage& m = in.local.messages[i];
    if (local_taken[i] != 0 || in.pending_uploads.count(m.name) != 0) {
      continue;
    }
    known_plan.new_local.push_back(&m);
  }
  return known_plan;
}

Plan complete_plan(KnownPlan known_plan, const FolderInput& in, const Policy& policy) {
  Plan plan = std::move(known_plan.plan);
  const std::vector<const ServerMessage*>& new_server = known_plan.new_server;
  const std::vector<const LocalMessage*>& new_local = known_plan.new_local;

  // Pair unknown messages with equal content keys, one to one, in UID and
  // name order, so that reruns pair the same way.
  // By key text, which reads 8-bit header bytes as the 'X' a server may
  // have made of them: the copy that an APPEND rewrote is still the file.
  // Messages left over are paired once more by their keys without mbsync's
  // X-TUID line (key_without_tuid), which only one of the two copies has.
  std::map<std::string, std::vector<const LocalMessage*>> local_by_key;
  std::map<std::string, std::vector<const LocalMessage*>> local_by_bare_key;
  auto bare_text = [](const ContentKey& key) {
    std::optional<ContentKey> bare = key_without_tuid(key);
    return content_key_text(bare ? *bare : key);
  };
  for (const auto* m : new_local) {
    auto k = in.local_keys.find(m->name);
    if (k != in.local_keys.end()) {
      local_by_key[content_key_text(k->second)].push_back(m);
      local_by_bare_key[bare_text(k->second)].push_back(m);
    }
  }
  std::set<const LocalMessage*> paired_local;
  std::map<const ServerMessage*, const LocalMessage*> matches;
  auto take = [&](std::vector<const LocalMessage*>& candidates) -> const LocalMessage* {
    for (auto it = candidates.begin(); it != candidates.end(); ++it) {
      if (paired_local.count(*it) == 0) {
        const LocalMessage* m = *it;
        candidates.erase(it);
        paired_local.insert(m);
        return m;
      }
    }
    return nullptr;
  };
  for (bool bare : {false, true}) {
    for (const auto* sm : new_server) {
      auto k = in.server_keys.find(sm->uid);
      if (matches.count(sm) != 0 || k == in.server_keys.end()) {
        continue;
      }
      auto& index = bare ? local_by_bare_key : local_by_key;
      auto lit = index.find(bare ? bare_text(k->second) : content_key_text(k->second));
      if (lit != index.end()) {
        if (const LocalMessage* m = take(lit->second)) {
          matches[sm] = m;
        }
      }
    }
  }
  std::size_t paired = 0;
  for (const auto* sm : new_server) {
    auto found = matches.find(sm);
    const LocalMessage* match = found != matches.end() ? found->second : nullptr;
    if (match != nullptr) {
      ++paired;
      std::string server_letters = letters_of(sm->flags);
      std::string local_letters = maildir::known_letters(match->letters);
      std::string merged = merge_letters(nullptr, server_letters, local_letters);
      if (has(server_letters, 'T') != has(local_letters, 'T')) {
        // No history says which came later: a copy marked deleted on one
        // side only stays live on both rather than spreading the mark to
        // the copy the other side still shows (a mail client purges T).
        std::erase(merged, 'T');
      }
      // The record keeps the key of the local file, as for every pairing,
      // so that a rename of the file is recognised by it.
      reconcile(plan, policy, sm->uid, match->name, sm->flags, match->letters, merged, nullptr,
                content_key_text(in.local_keys.at(match->name)));
    } else if (pulls(policy)) {
      plan.downloads.push_back({sm->uid, sm->flags});
    }
  }
  std::size_t incoming = 0;
  for (const auto* lm : new_local) {
    if (paired_local.count(lm) != 0) {
      continue;
    }
    if (in.moved_in.count(lm->name) != 0) {
      ++incoming;
      plan.moved_in_unpaired.push_back(lm->name);
    } else if (pushes(policy)) {
      Flags flags = maildir::imap_flags_from_letters(lm->letters).imap_flags;
      state::normalize_flags(flags);
      plan.uploads.push_back({lm->name, lm->letters, flags});
    } else {
      plan.local_only.push_back(lm->name);
    }
  }

  // Deletions held back by a guard hold back the uploads too: when a
  // mail reader renamed the files, the uploads would be second copies of
  // the messages the guard kept (renames that content keys recognised are
  // not deletions, so they never get here).
  if (!plan.refused.empty() && !plan.uploads.empty()) {
    plan.notices.push_back(
        plural(plan.uploads.size(), "new local message waits", "new local messages wait") +
        " for the held-back deletions to be resolved before upload");
    plan.uploads.clear();
  }

  // --- What the user should know ---
  if (paired > 0) {
    plan.details.push_back(plural(paired, "message", "messages") +
                           " found on both sides by content; not copied again");
  }
  if (known_plan.kept_local_deletions > 0) {
    plan.notices.push_back(plural(known_plan.kept_local_deletions, "message", "messages") +
                           " deleted locally stay on the server (pull mode writes nothing there)");
  }
  if (known_plan.kept_server_expunges > 0) {
    plan.notices.push_back(plural(known_plan.kept_server_expunges, "message", "messages") +
                           " expunged on the server stay locally (push mode)");
  }
  if (!plan.local_only.empty()) {
    plan.notices.push_back(
        plural(plan.local_only.size(), "local message is", "local messages are") +
        " not on the server (pull mode does not upload)");
  }
  if (incoming > 0) {
    plan.notices.push_back(plural(incoming, "message", "messages") +
                           " moved here from another folder; the server moves them too");
  }
  return plan;
}

}  // namespace roam::sync

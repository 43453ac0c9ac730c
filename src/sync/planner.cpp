#include "sync/planner.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "maildir/name.hpp"

namespace roam::sync {

namespace {

bool has(const std::string& letters, char c) {
  return letters.find(c) != std::string::npos;
}

// A local folder indexed by stable name. When a mail reader copied a file,
// the same stable name appears twice; the first one stands for the message
// and the copy is left alone (the executor warns about it).
std::unordered_map<std::string, const LocalMessage*> index_local(const LocalFolder& local) {
  std::unordered_map<std::string, const LocalMessage*> out;
  out.reserve(local.messages.size());
  for (const auto& m : local.messages) {
    out.emplace(m.name, &m);
  }
  return out;
}

std::string plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

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
  Plan plan;
  auto local_by_name = index_local(local);
  std::size_t kept_local_deletions = 0;

  for (const auto& sm : server.messages) {
    const state::MessageRecord* rec = nullptr;
    if (state != nullptr) {
      auto it = state->messages.find(sm.uid);
      if (it != state->messages.end()) {
        rec = &it->second;
      }
    }
    if (rec == nullptr) {
      plan.downloads.push_back({sm.uid, sm.flags});
      continue;
    }
    auto lit = local_by_name.find(rec->name);
    if (lit == local_by_name.end()) {
      // Deleted (or moved away) locally. Pull mode never writes to the
      // server, so the deletion is not propagated, and the message is not
      // downloaded again either: the user removed it on purpose.
      ++kept_local_deletions;
      continue;
    }
    const LocalMessage& lm = *lit->second;
    std::string base = letters_of(rec->flags);
    std::string server_letters = letters_of(sm.flags);
    std::string local_known = maildir::known_letters(lm.letters);
    std::string merged = merge_letters(&base, server_letters, local_known);
    Flags agreed = sm.flags;  // Pull: the record follows the server.
    if (merged != local_known) {
      plan.local_flags.push_back({sm.uid, rec->name, lm.letters,
                                  maildir::replace_known_letters(lm.letters, merged), agreed});
    } else if (agreed != rec->flags) {
      plan.updates.push_back({state::MessageRecord{sm.uid, rec->name, agreed}});
    }
  }

  // Records whose server message is gone: the server expunged them.
  if (state != nullptr) {
    std::vector<Uid> server_uids;
    server_uids.reserve(server.messages.size());
    for (const auto& sm : server.messages) {
      server_uids.push_back(sm.uid);
    }
    std::sort(server_uids.begin(), server_uids.end());
    std::vector<const state::MessageRecord*> gone;
    for (const auto& [uid, rec] : state->messages) {
      if (!std::binary_search(server_uids.begin(), server_uids.end(), uid)) {
        gone.push_back(&rec);
      }
    }
    std::size_t to_delete = 0;
    for (const auto* rec : gone) {
      if (policy.expunge == Expunge::Yes && local_by_name.count(rec->name) != 0) {
        ++to_delete;
      }
    }
    std::size_t known = state->messages.size();
    bool guard =
        to_delete > 0 && !policy.allow_mass_delete && known >= policy.mass_delete_min &&
        static_cast<double>(to_delete) > policy.mass_delete_ratio * static_cast<double>(known);
    if (guard) {
      plan.refused = "the server no longer has " + plural(to_delete, "message", "messages") +
                     " of " + std::to_string(known) +
                     " known in this folder; roam deletes nothing locally when more than " +
                     std::to_string(static_cast<int>(policy.mass_delete_ratio * 100)) +
                     "% would go (run with --force if the server really lost them)";
    }
    for (const auto* rec : gone) {
      bool present = local_by_name.count(rec->name) != 0;
      if (present && policy.expunge == Expunge::Yes && !guard) {
        plan.local_deletes.push_back({rec->uid, rec->name});
      } else if (!present || (policy.expunge == Expunge::No)) {
        // Gone on both sides, or kept locally on purpose (expunge = no):
        // the record has nothing left to describe.
        plan.drops.push_back({rec->uid});
      }
    }
    if (policy.expunge == Expunge::No) {
      std::size_t kept = 0;
      for (const auto* rec : gone) {
        kept += local_by_name.count(rec->name);
      }
      if (kept > 0) {
        plan.notices.push_back(plural(kept, "message was", "messages were") +
                               " expunged on the server and kept locally (expunge = no)");
      }
    }
  }

  if (kept_local_deletions > 0) {
    plan.notices.push_back(plural(kept_local_deletions, "message", "messages") +
                           " deleted locally stay on the server (pull mode writes nothing there)");
  }

  // Local files the state does not know: pull mode does not upload them.
  std::size_t local_only = 0;
  if (state == nullptr) {
    local_only = local.messages.size();
  } else {
    state::NameIndex known_names = state::build_name_index(*state);
    for (const auto& lm : local.messages) {
      if (known_names.count(lm.name) == 0) {
        ++local_only;
      }
    }
  }
  if (local_only > 0 && policy.direction == Direction::Pull) {
    plan.notices.push_back(plural(local_only, "local message is", "local messages are") +
                           " not on the server (pull mode does not upload)");
  }
  return plan;
}

Plan plan_rematch(const std::vector<KeyedServerMessage>& server,
                  const std::vector<KeyedLocalMessage>& local, const Policy& policy) {
  (void)policy;
  Plan plan;
  plan.reset_state = true;
  std::map<ContentKey, std::vector<const KeyedLocalMessage*>> by_key;
  for (const auto& lm : local) {
    by_key[lm.key].push_back(&lm);
  }
  // Pair identical copies in a stable order: files the old state knew first,
  // then by name, so that reruns pair the same way.
  for (auto& [key, list] : by_key) {
    std::stable_sort(list.begin(), list.end(), [](const auto* a, const auto* b) {
      return a->known != b->known ? a->known : a->message.name < b->message.name;
    });
  }
  std::map<ContentKey, std::size_t> used;
  std::size_t matched = 0;
  for (const auto& sm : server) {
    auto it = by_key.find(sm.key);
    std::size_t& n = used[sm.key];
    if (it == by_key.end() || n >= it->second.size()) {
      plan.downloads.push_back({sm.message.uid, sm.message.flags});
      continue;
    }
    const KeyedLocalMessage& lm = *it->second[n++];
    ++matched;
    std::string server_letters = letters_of(sm.message.flags);
    std::string local_known = maildir::known_letters(lm.message.letters);
    std::string merged = merge_letters(nullptr, server_letters, local_known);
    Flags agreed = sm.message.flags;
    if (merged != local_known) {
      plan.local_flags.push_back({sm.message.uid, lm.message.name, lm.message.letters,
                                  maildir::replace_known_letters(lm.message.letters, merged),
                                  agreed});
    } else {
      plan.updates.push_back({state::MessageRecord{sm.message.uid, lm.message.name, agreed}});
    }
  }
  std::size_t orphaned = 0;
  for (const auto& [key, list] : by_key) {
    std::size_t n = used.count(key) ? used.at(key) : 0;
    for (std::size_t i = n; i < list.size(); ++i) {
      if (list[i]->known) {
        ++orphaned;
      }
    }
  }
  if (matched > 0) {
    plan.notices.push_back(plural(matched, "message", "messages") +
                           " matched to local files by content; not downloaded again");
  }
  if (orphaned > 0) {
    plan.notices.push_back(plural(orphaned, "local message is", "local messages are") +
                           " no longer on the server; kept locally, never deleted");
  }
  return plan;
}

}  // namespace roam::sync

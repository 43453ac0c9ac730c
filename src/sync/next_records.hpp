#pragma once

// The records of the state a folder's run builds: the base of the merge and
// this run's changes to it, kept apart. A copy of the base, changed in place,
// held every record twice for the few a run changes: for a 100,000-message
// folder about 25 MB more at the peak, when the state is saved.

#include <cstdint>
#include <map>
#include <optional>

#include "state/folder_state.hpp"

namespace roam::sync {

class NextRecords {
 public:
  using Uid = std::uint32_t;
  using Records = std::map<Uid, state::MessageRecord>;

  // Starts over from `base`, with no changes. The base must outlive this
  // object and must not change while it is in use, except through settle().
  void reset(const Records& base) {
    m_base = &base;
    m_changes.clear();
  }

  // The record of `uid`, or null when there is none.
  const state::MessageRecord* find(Uid uid) const;
  bool contains(Uid uid) const { return find(uid) != nullptr; }
  // The record of `uid` to change in place (the base's is copied the first
  // time), or null when there is none.
  state::MessageRecord* edit(Uid uid);
  // Sets the record of `uid`, adding it if there is none.
  void set(Uid uid, state::MessageRecord record) { m_changes[uid] = std::move(record); }
  void erase(Uid uid) { m_changes[uid] = std::nullopt; }

  // Every record: the base's with the changes applied.
  Records merged() const;
  // Applies the changes to `base`, which must be the map given to reset(),
  // and forgets them: the base then holds the new records. For the end of a
  // run, when the base of the merge is needed no more.
  void settle(Records& base);

 private:
  const Records* m_base = nullptr;
  // By UID: the new record, or nullopt for one erased.
  std::map<Uid, std::optional<state::MessageRecord>> m_changes;
};

}  // namespace roam::sync

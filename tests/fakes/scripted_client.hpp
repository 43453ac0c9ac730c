#pragma once

// An imap::Client that talks to a ScriptedStream, for the transcript tests
// of the IMAP client: the stream (kept at hand for assertions such as
// finished() and written()) plays `steps`, and the client has read the
// greeting, the first server step, before the test starts.
//
// `StreamT` is ScriptedStream or a subclass that takes the same arguments
// (one that counts writes, say).

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "fakes/scripted_stream.hpp"
#include "imap/client.hpp"

namespace roam::fakes {

template <class StreamT = ScriptedStream>
struct ScriptedClient {
  explicit ScriptedClient(std::vector<Step> steps, imap::ClientOptions options = {},
                          std::size_t chunk = 0) {
    auto owned = std::make_unique<StreamT>(std::move(steps), chunk);
    stream = owned.get();
    client = std::make_unique<imap::Client>(std::move(owned), options);
    client->read_greeting();
  }
  StreamT* stream;
  std::unique_ptr<imap::Client> client;
};

}  // namespace roam::fakes

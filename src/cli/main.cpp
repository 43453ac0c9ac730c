// roam: keeps an IMAP account and a Maildir in sync. Everything but this
// entry point lives in the libraries under src/, so that tests link the same
// code the binary runs.

#include "cli/app.hpp"

int main(int argc, char** argv) {
  return roam::cli::run(argc, argv);
}

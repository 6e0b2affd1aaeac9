#include "util/background.hpp"

#include <utility>

namespace dataflow::util {

void BackgroundThread::start(std::function<void()> body) {
    if (m_thread.joinable()) {
        return;
    }
    m_stop = std::stop_source();
    m_thread = std::thread(std::move(body));
}

void BackgroundThread::stop() {
    if (!m_thread.joinable()) {
        return;
    }
    m_stop.request_stop(); // wakes wait()/wait_for() through their stop token
    m_thread.join();
}

} // namespace dataflow::util

// NBD conformance: option haggling through libnbd (opt mode).
#include "harness.h"

namespace nbdtest {
namespace {

Handle ConnectOptMode(bool structured = true) {
  ConnectOptions o;
  o.opt_mode = true;
  o.structured = structured;
  return Connect(o);
}

TEST(Options, ListReportsExportsThatInfoAccepts) {
  Handle h = ConnectOptMode();
  std::vector<std::string> names;
  nbd_list_callback cb = {
      .callback = [](void* ud, const char* name, const char*) -> int {
        static_cast<std::vector<std::string>*>(ud)->push_back(name);
        return 0;
      },
      .user_data = &names,
      .free = nullptr};
  int n = nbd_opt_list(h.get(), cb);
  ASSERT_NE(-1, n) << NbdError();
  EXPECT_EQ(size_t(n), names.size());
  EXPECT_GE(n, 1) << "LIST advertised no export";
  for (const std::string& name : names) {
    ASSERT_NBD_OK(nbd_set_export_name(h.get(), name.c_str()));
    EXPECT_NBD_OK(nbd_opt_info(h.get()))
        << " for listed export '" << name << "'";
  }
  EXPECT_EQ(1, nbd_aio_is_negotiating(h.get()));
}

TEST(Options, InfoThenGoAgree) {
  Handle h = ConnectOptMode();
  ASSERT_NBD_OK(nbd_opt_info(h.get()));
  const int64_t size = nbd_get_size(h.get());
  const int ro = nbd_is_read_only(h.get()), flush = nbd_can_flush(h.get()),
            fua = nbd_can_fua(h.get()), trim = nbd_can_trim(h.get()),
            zero = nbd_can_zero(h.get()), fast = nbd_can_fast_zero(h.get()),
            df = nbd_can_df(h.get()), mc = nbd_can_multi_conn(h.get()),
            cache = nbd_can_cache(h.get());
  const int64_t bmin = nbd_get_block_size(h.get(), LIBNBD_SIZE_MINIMUM),
                bpref = nbd_get_block_size(h.get(), LIBNBD_SIZE_PREFERRED),
                bmax = nbd_get_block_size(h.get(), LIBNBD_SIZE_MAXIMUM);
  ASSERT_GT(size, 0);
  ASSERT_NBD_OK(nbd_opt_go(h.get()));
  EXPECT_EQ(size, nbd_get_size(h.get()));
  EXPECT_EQ(ro, nbd_is_read_only(h.get()));
  EXPECT_EQ(flush, nbd_can_flush(h.get()));
  EXPECT_EQ(fua, nbd_can_fua(h.get()));
  EXPECT_EQ(trim, nbd_can_trim(h.get()));
  EXPECT_EQ(zero, nbd_can_zero(h.get()));
  EXPECT_EQ(fast, nbd_can_fast_zero(h.get()));
  EXPECT_EQ(df, nbd_can_df(h.get()));
  EXPECT_EQ(mc, nbd_can_multi_conn(h.get()));
  EXPECT_EQ(cache, nbd_can_cache(h.get()));
  EXPECT_EQ(bmin, nbd_get_block_size(h.get(), LIBNBD_SIZE_MINIMUM));
  EXPECT_EQ(bpref, nbd_get_block_size(h.get(), LIBNBD_SIZE_PREFERRED));
  EXPECT_EQ(bmax, nbd_get_block_size(h.get(), LIBNBD_SIZE_MAXIMUM));
}

TEST(Options, InfoOnUnknownExportFailsAndNegotiationContinues) {
  Handle h = ConnectOptMode();
  ASSERT_NBD_OK(nbd_set_export_name(h.get(), "no-such-export"));
  EXPECT_EQ(-1, nbd_opt_info(h.get()));
  EXPECT_EQ(1, nbd_aio_is_negotiating(h.get()));
  ASSERT_NBD_OK(nbd_set_export_name(h.get(), ""));
  EXPECT_NBD_OK(nbd_opt_info(h.get()));
  EXPECT_NBD_OK(nbd_opt_go(h.get()));
}

std::vector<std::string> ListMetaContexts(nbd_handle* h, int* rc) {
  std::vector<std::string> names;
  nbd_context_callback cb = {
      .callback = [](void* ud, const char* name) -> int {
        static_cast<std::vector<std::string>*>(ud)->push_back(name);
        return 0;
      },
      .user_data = &names,
      .free = nullptr};
  *rc = nbd_opt_list_meta_context(h, cb);
  return names;
}

TEST(Options, ListMetaContextWithoutQueriesIncludesBaseAllocation) {
  Handle h = ConnectOptMode();
  ASSERT_NBD_OK(nbd_clear_meta_contexts(h.get()));
  int rc = 0;
  auto names = ListMetaContexts(h.get(), &rc);
  ASSERT_NE(-1, rc) << NbdError();
  EXPECT_EQ(size_t(rc), names.size());
  EXPECT_NE(names.end(), std::find(names.begin(), names.end(),
                                   LIBNBD_CONTEXT_BASE_ALLOCATION));
}

TEST(Options, ListMetaContextWithQueryReturnsMatch) {
  Handle h = ConnectOptMode();
  ASSERT_NBD_OK(nbd_clear_meta_contexts(h.get()));
  ASSERT_NBD_OK(nbd_add_meta_context(h.get(), LIBNBD_CONTEXT_BASE_ALLOCATION));
  int rc = 0;
  auto names = ListMetaContexts(h.get(), &rc);
  ASSERT_NE(-1, rc) << NbdError();
  ASSERT_EQ(1u, names.size());
  EXPECT_EQ(LIBNBD_CONTEXT_BASE_ALLOCATION, names[0]);
}

TEST(Options, ListMetaContextIgnoresUnknownNamespace) {
  Handle h = ConnectOptMode();
  ASSERT_NBD_OK(nbd_clear_meta_contexts(h.get()));
  ASSERT_NBD_OK(nbd_add_meta_context(h.get(), "x-no-such-namespace:"));
  int rc = 0;
  auto names = ListMetaContexts(h.get(), &rc);
  EXPECT_EQ(0, rc) << NbdError();
  EXPECT_TRUE(names.empty());
  EXPECT_EQ(1, nbd_aio_is_negotiating(h.get()));
}

TEST(Options, AbortEndsNegotiationGracefully) {
  Handle h = ConnectOptMode();
  EXPECT_NBD_OK(nbd_opt_abort(h.get()));
  EXPECT_EQ(1, nbd_aio_is_closed(h.get()))
      << "state after abort: " << nbd_connection_state(h.get());
}

}  // namespace
}  // namespace nbdtest

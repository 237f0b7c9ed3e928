// Chain IDs against the OCI image spec's definition, unpack_chain() and
// ScopedSnapshot on a real snapshotter (the native driver: root for chown).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "common/error.h"
#include "common/fs.h"
#include "snapshotter/snapshotter.h"
#include "store/store.h"
#include "tests/support/tar_util.h"

namespace xb::snapshotter {
namespace {

namespace fs = std::filesystem;
using xb::testing::TarBuilder;

// Digests of "a", "b", "c" and the chain IDs computed independently with
// sha256sum: printf '%s %s' "$chain" "$diffid" | sha256sum.
const Digest kA = Digest::parse("sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb");
const Digest kB = Digest::parse("sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d");
const Digest kC = Digest::parse("sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6");
const char* kAB = "sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676";
const char* kABC = "sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106";

TEST(ChainId, IsTheOciDefinition) {
  EXPECT_EQ(Digest::of("a"), kA);
  // ChainID(L0) = DiffID(L0).
  EXPECT_EQ(ChainId::of(std::vector<Digest>{kA})->str(), kA.str());
  // ChainID(L0|…|Ln) = sha256(ChainID(L0|…|Ln-1) + " " + DiffID(Ln)).
  EXPECT_EQ(ChainId::of(std::vector<Digest>{kA, kB})->str(), kAB);
  EXPECT_EQ(ChainId::of(std::vector<Digest>{kA, kB, kC})->str(), kABC);
  EXPECT_EQ(ChainId(kA).then(kB).then(kC).str(), kABC);
  EXPECT_FALSE(ChainId::of(std::vector<Digest>{}));
}

TEST(ChainId, EveryPrefixAndItsSnapshotName) {
  std::vector<ChainId> c = chain_ids(std::vector<Digest>{kA, kB, kC});
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].str(), kA.str());
  EXPECT_EQ(c[1].str(), kAB);
  EXPECT_EQ(c[2].str(), kABC);
  EXPECT_EQ(c[2].snapshot_name(), "layer-2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106");
  // Order matters: the same layers in another order are another file system.
  EXPECT_NE(ChainId::of(std::vector<Digest>{kB, kA}), ChainId::of(std::vector<Digest>{kA, kB}));
  EXPECT_TRUE(chain_ids({}).empty());
}

class UnpackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (chown while unpacking)";
    snap_ = open_snapshotter(root_.path(), Driver::native);
  }
  LayerBlob put(const std::string& tar) {
    Digest d = st_.put_blob(tar);
    return {d, d};  // uncompressed: the diff ID is the blob's digest
  }
  std::string file(const std::string& snapshot, const std::string& path) {
    std::string out;
    auto v = ScopedSnapshot::view(*snap_, "look", snapshot);
    with_mounted(v.mounts(), [&](const fs::path& root) {
      std::ifstream f(root / path);
      out.assign(std::istreambuf_iterator<char>(f), {});
    });
    return out;
  }

  TempDir root_{"xb-chain-test"};
  store::Store st_{root_.path()};
  std::unique_ptr<Snapshotter> snap_;
};

TEST_F(UnpackTest, LayersBecomeSnapshotsNamedByChainAndAreReused) {
  std::vector<LayerBlob> layers = {put(TarBuilder().file("a", "1").file("b", "1").finish()),
                                   put(TarBuilder().file("b", "2").finish())};
  EXPECT_EQ(missing_layers(*snap_, layers), (std::vector<size_t>{0, 1}));
  std::vector<size_t> applied;
  std::string top = unpack_chain(*snap_, st_, layers, [&](size_t i) { applied.push_back(i); });
  auto chain = chain_ids(std::vector<Digest>{layers[0].diff_id, layers[1].diff_id});
  EXPECT_EQ(top, chain[1].snapshot_name());
  EXPECT_EQ(snap_->stat(top)->parent, chain[0].snapshot_name());
  EXPECT_EQ(applied, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(file(top, "a"), "1");
  EXPECT_EQ(file(top, "b"), "2");
  // Nothing left but the two committed layers: no active "unpack-" snapshot.
  EXPECT_EQ(snap_->list().size(), 2u);

  // Again: nothing is applied; a longer image reuses the shared bottom.
  applied.clear();
  EXPECT_TRUE(missing_layers(*snap_, layers).empty());
  EXPECT_EQ(unpack_chain(*snap_, st_, layers, [&](size_t i) { applied.push_back(i); }), top);
  layers.push_back(put(TarBuilder().file("c", "3").finish()));
  EXPECT_EQ(missing_layers(*snap_, layers), (std::vector<size_t>{2}));
  unpack_chain(*snap_, st_, layers, [&](size_t i) { applied.push_back(i); });
  EXPECT_EQ(applied, (std::vector<size_t>{2}));
  EXPECT_TRUE(unpack_chain(*snap_, st_, {}).empty());
}

TEST_F(UnpackTest, AWrongDiffIdIsRefusedAndLeavesNothing) {
  LayerBlob l = put(TarBuilder().file("a", "1").finish());
  l.diff_id = Digest::of("something else");
  try {
    unpack_chain(*snap_, st_, std::vector<LayerBlob>{l});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data_loss);
    EXPECT_NE(std::string(e.what()).find(l.blob.str()), std::string::npos) << e.what();
  }
  EXPECT_TRUE(snap_->list().empty());
}

TEST_F(UnpackTest, ScopedSnapshotGoesUnlessCommitted) {
  {
    auto s = ScopedSnapshot::prepare(*snap_, "tmp", "");
    EXPECT_TRUE(snap_->stat("tmp"));
    EXPECT_FALSE(s.mounts().empty());
    auto moved = std::move(s);  // ownership moves: removed once
  }
  EXPECT_FALSE(snap_->stat("tmp"));
  {
    auto s = ScopedSnapshot::prepare(*snap_, "tmp", "");
    s.commit("kept");
  }
  EXPECT_TRUE(snap_->stat("kept"));
  {
    // A commit that loses the race (name taken) leaves it owned: it goes.
    auto s = ScopedSnapshot::prepare(*snap_, "tmp2", "");
    EXPECT_THROW(s.commit("kept"), Error);
  }
  EXPECT_FALSE(snap_->stat("tmp2"));
  {
    auto v = ScopedSnapshot::view(*snap_, "v", "kept");
    EXPECT_EQ(snap_->stat("v")->kind, Kind::view);
    v.remove();
    EXPECT_FALSE(snap_->stat("v"));
  }
  EXPECT_EQ(snap_->list().size(), 1u);
}

}  // namespace
}  // namespace xb::snapshotter

// AccessPolicy: who may inspect, write and control (docs/security.md).
#include "memfs/access.h"

#include <gtest/gtest.h>

namespace mkd::memfs {
namespace {

Caller As(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
  return Caller{uid, gid, 42, [groups] { return groups; }};
}

TEST(AccessTest, RootMayDoEverything) {
  AccessPolicy p;
  p.vm_uid = 107;
  for (Need n : {Need::kHostInspect, Need::kInspect, Need::kVmWrite, Need::kControl}) {
    EXPECT_TRUE(p.Check(As(0, 0), n, "x").ok());
  }
}

TEST(AccessTest, AnyoneMayInspectTheHostOnly) {
  AccessPolicy p;  // vm user root, no admin group
  EXPECT_TRUE(p.Check(As(1000, 1000), Need::kHostInspect, "x").ok());
  for (Need n : {Need::kInspect, Need::kVmWrite, Need::kControl}) {
    Status s = p.Check(As(1000, 1000), n, "getxattr user.mkd.table");
    EXPECT_EQ(s.code(), ErrorCode::kPermissionDenied);
    EXPECT_NE(s.message().find("uid 1000"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("getxattr user.mkd.table"), std::string::npos) << s.message();
  }
}

TEST(AccessTest, TheVmUserMayWriteAndInspectButNotControl) {
  AccessPolicy p;
  p.vm_uid = 107;
  EXPECT_TRUE(p.Check(As(107, 107), Need::kVmWrite, "x").ok());
  EXPECT_TRUE(p.Check(As(107, 107), Need::kInspect, "x").ok());
  EXPECT_EQ(p.Check(As(107, 107), Need::kControl, "x").code(), ErrorCode::kPermissionDenied);
}

TEST(AccessTest, AdminGroupMayControlAndInspectButNotOpenForWriting) {
  AccessPolicy p;
  p.vm_uid = 107;
  p.admin_gid = 500;
  // Primary group or supplementary group.
  EXPECT_TRUE(p.Check(As(1001, 500), Need::kControl, "x").ok());
  EXPECT_TRUE(p.Check(As(1001, 1001, {20, 500}), Need::kControl, "x").ok());
  EXPECT_TRUE(p.Check(As(1001, 1001, {500}), Need::kInspect, "x").ok());
  EXPECT_EQ(p.Check(As(1001, 500), Need::kVmWrite, "x").code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(p.Check(As(1002, 1002, {20}), Need::kControl, "x").code(),
            ErrorCode::kPermissionDenied);
}

TEST(AccessTest, GroupsAreReadOnlyWhenTheyMatter) {
  AccessPolicy p;
  p.admin_gid = 500;
  int calls = 0;
  Caller c{0, 0, 1, [&calls] {
             ++calls;
             return std::vector<gid_t>{};
           }};
  EXPECT_TRUE(p.Check(c, Need::kControl, "x").ok());
  c.uid = 1000;
  c.gid = 500;
  EXPECT_TRUE(p.Check(c, Need::kControl, "x").ok());
  EXPECT_EQ(calls, 0);
  c.gid = 1000;
  EXPECT_FALSE(p.Check(c, Need::kControl, "x").ok());
  EXPECT_EQ(calls, 1);
}

TEST(AccessTest, ModesFollowTheAdminGroup) {
  AccessPolicy p;
  p.vm_gid = 107;
  EXPECT_EQ(p.root_mode(), 0755u);
  EXPECT_EQ(p.vm_dir_mode(), 0700u);
  EXPECT_EQ(p.file_mode(true), 0600u);
  EXPECT_EQ(p.file_mode(false), 0400u);
  EXPECT_EQ(p.file_gid(), 107u);
  p.admin_gid = 500;
  EXPECT_EQ(p.root_mode(), 0775u);
  EXPECT_EQ(p.vm_dir_mode(), 0770u);
  EXPECT_EQ(p.file_mode(true), 0660u);
  EXPECT_EQ(p.file_mode(false), 0440u);
  EXPECT_EQ(p.file_gid(), 500u);
}

TEST(AccessTest, ResolvesNamesAndIds) {
  Result<AccessPolicy> p = ResolveAccessPolicy("root", "0", "");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->vm_uid, 0u);
  EXPECT_FALSE(p->admin_gid.has_value());
  p = ResolveAccessPolicy("1234", "root", "4321");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->vm_uid, 1234u);
  EXPECT_EQ(*p->admin_gid, 4321u);
  EXPECT_EQ(ResolveAccessPolicy("no-such-user-mkd", "root", "").status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(ResolveAccessPolicy("root", "root", "no-such-group-mkd").status().code(),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace mkd::memfs

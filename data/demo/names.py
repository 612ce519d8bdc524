"""Fictional but realistic Chinese names for the demo district (deterministic pickers).

District and town propers were checked against the 2023 NBS division names of Guangdong
(../shared/data/guangdong_admin_divisions_nbs2023): none of them is a real town, sub-district,
community or village name there, so the fictional divisions cannot be mistaken for real ones.
Names of roads, estates and villages are ordinary and may coincide with real ones elsewhere.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

DISTRICTS = [
    "澄湾",
    "澜屿",
    "汐浦",
    "镜湾",
    "银汀",
    "望潮",
    "泷湾",
    "凤湾",
    "蓝屿",
    "珠屿",
    "榕岭",
    "沙汀",
    "鹭洲",
    "鸥屿",
    "鲸湾",
    "汀澳",
    "漪洲",
    "霞屿",
    "帆港",
    "涟浦",
    "青澳",
    "苍屿",
    "云汀",
    "礁湾",
    "浣洲",
]
"""District propers, one per copy (澄湾区 first). Checked absent from the Guangdong 2023 list."""

_REAL_CODES = {"441502", "441521", "441523", "441581"}
_TOWN_FIRST = "汐鹭澜潮榕蓝镜银珠望云凤泷青苍霞帆渔礁漪涟浣"
_TOWN_SECOND = "岭田浦溪埔塘墩坪港"
_REAL_TOWN_PROPERS = set(
    [
        "潮岭",
        "潮塘",
        "潮港",
        "榕溪",
        "蓝田",
        "蓝溪",
        "蓝塘",
        "蓝坪",
        "银溪",
        "银塘",
        "珠浦",
        "珠塘",
        "云岭",
        "云田",
        "云溪",
        "云埔",
        "云塘",
        "凤岭",
        "凤田",
        "凤塘",
        "凤坪",
        "凤港",
        "青溪",
        "青塘",
        "苍岭",
        "霞埔",
        "渔溪",
    ]
)
"""Combinations of the pickers' characters that are real Guangdong division names (excluded)."""

ROAD_PROPERS = [
    "新华",
    "人民",
    "解放",
    "建设",
    "中山",
    "滨江",
    "海景",
    "东湖",
    "文明",
    "和平",
    "朝阳",
    "光明",
    "青年",
    "学府",
    "金沙",
    "银湾",
    "望海",
    "潮音",
    "兴业",
    "振兴",
    "繁荣",
    "幸福",
    "康宁",
    "福安",
    "永安",
    "长乐",
    "澄江",
    "凤鸣",
    "鹭洲",
    "榕树",
    "木棉",
    "荔香",
    "桂香",
    "兰亭",
    "松柏",
    "翠竹",
    "丹霞",
    "紫荆",
    "海棠",
    "友谊",
    "团结",
    "胜利",
    "前进",
    "工业",
    "商业",
    "育才",
    "文化",
    "体育",
    "民主",
    "民生",
    "环城",
    "沿海",
    "港口",
    "新城",
    "新港",
    "东风",
    "南华",
    "西湖",
    "北斗",
    "红旗",
    "华侨",
    "侨兴",
    "金城",
    "锦华",
    "嘉禾",
    "华兴",
    "德政",
    "仁和",
    "信义",
    "观海",
    "听涛",
    "渔光",
    "帆影",
    "鸥鸣",
    "晨曦",
    "晚霞",
    "星河",
    "云山",
    "碧水",
    "青松",
    "翠湖",
    "柳岸",
    "梧桐",
    "芙蓉",
    "茉莉",
    "玉兰",
    "杜鹃",
    "桃源",
    "杏林",
    "梅岭",
    "竹园",
    "荷塘",
    "稻香",
    "蔗林",
    "椰风",
    "蚝田",
    "龙津",
    "凤池",
    "鹤鸣",
    "麒麟",
    "狮山",
    "象岭",
    "金鸡",
    "白鹭",
    "沙湖",
    "石井",
    "水南",
    "湖西",
    "溪东",
    "坑尾",
    "塘边",
    "埔前",
    "田心",
    "桥头",
    "墩下",
    "岗背",
    "宝华",
    "瑞祥",
    "福星",
    "吉祥",
    "安康",
    "泰和",
    "升平",
    "永丰",
    "广源",
    "聚龙",
    "汇川",
    "海晏",
    "清平",
    "崇文",
    "尚德",
    "明德",
    "怀德",
    "厚德",
    "培英",
    "启明",
    "启秀",
    "日新",
    "月华",
    "星光",
]
LANE_PROPERS = [
    "打铁",
    "米仓",
    "盐埠",
    "鱼行",
    "书院",
    "榕荫",
    "井头",
    "水仙",
    "三益",
    "四维",
    "五福",
    "六合",
    "七星",
    "八角",
    "九曲",
    "十字",
    "猪仔",
    "糖房",
    "柴栏",
    "布行",
    "银铺",
    "药局",
    "染坊",
    "织机",
    "灯笼",
    "竹篾",
    "木屐",
    "秤杆",
    "花轿",
    "戏台",
    "祠堂",
    "学前",
    "庙后",
    "社前",
    "古井",
    "石狮",
    "钟楼",
    "鼓楼",
    "城隍",
    "关前",
    "营前",
    "仓前",
    "仓后",
    "衙前",
    "县前",
    "泮池",
    "文昌",
    "魁星",
    "荔枝",
    "龙眼",
    "杨桃",
    "石榴",
    "葫芦",
    "状元",
    "举人",
    "进士",
    "秀才",
    "太平",
    "升平",
    "安乐",
    "长寿",
    "百岁",
    "同德",
    "同安",
    "同福",
    "永宁",
    "永兴",
    "聚贤",
    "集贤",
    "招贤",
    "育贤",
    "荣华",
    "富贵",
    "德星",
    "紫薇",
    "绣衣",
]
COMMUNITY_PROPERS = [
    "海景",
    "新华",
    "江滨",
    "东湖",
    "学府",
    "金沙",
    "银湾",
    "凤鸣",
    "朝阳",
    "兴华",
    "康乐",
    "榕荫",
    "盐埠",
    "书院",
    "鹭港",
    "望海",
    "潮音",
    "龙舟",
    "文澜",
    "锦绣",
    "翠屏",
    "紫荆",
    "丹桂",
    "云帆",
    "澄心",
    "观澜",
    "汇景",
    "滨海",
    "明珠",
    "振兴",
    "通津",
    "河口",
    "新港",
    "南门",
    "北门",
    "西关",
    "东门",
    "城南",
    "城北",
    "桥东",
    "桥西",
    "沙坝",
    "渔村",
    "盐场",
    "蚝埕",
    "东升",
    "西华",
    "中和",
    "宝塔",
    "龙泉",
]
VILLAGE_FIRST = [
    "东",
    "西",
    "南",
    "北",
    "上",
    "下",
    "前",
    "后",
    "新",
    "老",
    "大",
    "小",
    "石",
    "沙",
    "竹",
    "松",
    "榕",
    "梅",
    "莲",
    "林",
    "黄",
    "陈",
    "吴",
    "郑",
    "蔡",
    "许",
    "彭",
    "曾",
    "叶",
    "庄",
]
# no two suffixes read alike (陂/背, 围/尾 would make homophone villages)
VILLAGE_SECOND = [
    "坑",
    "田",
    "埔",
    "湖",
    "岭",
    "洋",
    "寮",
    "墩",
    "溪",
    "陂",
    "塘",
    "美",
    "山",
    "头",
    "港",
    "澳",
    "厝",
    "围",
    "寨",
    "埕",
    "仔",
    "坪",
    "楼",
    "园",
    "水",
    "下",
    "门",
    "圳",
]
ESTATE_PROPERS = [
    "翠湖",
    "金茂",
    "碧海",
    "锦绣",
    "丽景",
    "嘉园",
    "华府",
    "怡景",
    "海逸",
    "名门",
    "景园",
    "天悦",
    "水岸",
    "江湾",
    "滨江",
    "东湖",
    "云顶",
    "星海",
    "瑞景",
    "盛世",
    "幸福",
    "阳光",
    "绿洲",
    "春天",
    "佳兆",
    "凯旋",
    "富丽",
    "康城",
    "和美",
    "宜家",
    "书香",
    "学府",
    "桂园",
    "荔园",
    "榕园",
    "松苑",
    "竹苑",
    "梅苑",
    "兰苑",
    "菊苑",
    "海湾",
    "港湾",
    "帆影",
    "观澜",
    "听涛",
    "望海",
    "映月",
    "栖霞",
    "朝晖",
    "晨光",
    "金沙",
    "银滩",
    "珊瑚",
    "珍珠",
    "玉泉",
    "明月",
    "清泉",
    "碧桂",
    "金域",
    "万象",
]
ESTATE_GENERICS = ["花园", "小区", "苑", "家园", "新村", "雅居", "名苑", "公寓", "华庭", "山庄"]
BUILDING_GENERICS = ["大厦", "大楼", "商厦", "中心"]
MOUNTAIN_PROPERS = [
    "澄岭",
    "鹰嘴",
    "石笋",
    "莲花",
    "狮头",
    "观音",
    "笔架",
    "大帽",
    "乌石",
    "白云",
    "双髻",
    "牛背",
    "虎头",
    "仙人",
    "旗岭",
    "将军",
    "马鞍",
    "鸡笼",
]
WORKER_SURNAMES = "陈林黄张李王吴刘蔡杨郑许谢洪郭邱曾廖赖周徐苏叶庄吕江何萧罗高"
WORKER_GIVEN = "晓丽秀春美建国志伟海燕玉芳慧敏文华明辉雪梅嘉欣俊杰少玲佩珊家宝婉婷振宇"
"""Characters of the grid workers' fictional names (common ones: the demo's people are made up)."""


def worker_name(code: str) -> str:
    """A fictional grid worker's name for the grid ``code``: the same code always gives the same name,
    without drawing from the district's random stream (no other demo name changes)."""
    h = int.from_bytes(hashlib.blake2s(code.encode(), digest_size=8).digest(), "big")
    surname = WORKER_SURNAMES[h % len(WORKER_SURNAMES)]
    h //= len(WORKER_SURNAMES)
    n = 1 + h % 2  # one or two given characters
    h //= 2
    given = ""
    for _ in range(n):
        given += WORKER_GIVEN[h % len(WORKER_GIVEN)]
        h //= len(WORKER_GIVEN)
    return surname + given


CHINESE_DIGITS = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"]


def district(copy: int) -> tuple[str, str]:
    """Name and 6-digit code of copy ``copy`` (澄湾区 441599 first; real Shanwei codes skipped)."""
    codes = [c for c in (f"4415{n:02d}" for n in range(99, 0, -1)) if c not in _REAL_CODES]
    return DISTRICTS[copy] + "区", codes[copy]


def town_propers(copy: int) -> list[str]:
    """Propers of the three towns of a copy: urban 街道, town-seat 镇, rural 镇."""
    if copy == 0:
        return ["澄湾", "汐岭", "鹭田"]
    pool = [
        a + b
        for b in _TOWN_SECOND
        for a in _TOWN_FIRST
        if a + b not in _REAL_TOWN_PROPERS and a + b not in {"汐岭", "鹭田"}
    ]
    rng = np.random.default_rng(1234)  # one fixed permutation shared by all copies
    pool = [pool[i] for i in rng.permutation(len(pool))]
    return [DISTRICTS[copy]] + pool[2 * (copy - 1) : 2 * copy]


class Namer:
    """Draws unique names of each kind from shuffled pools (deterministic for a given rng)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.used: set[str] = set()
        self._pools: dict[str, list[str]] = {}

    def _draw(self, kind: str, make) -> str:
        pool = self._pools.setdefault(kind, [])
        for _ in range(10_000):
            if not pool:
                pool.extend(make())
            name = pool.pop()
            if name not in self.used:
                self.used.add(name)
                return name
        raise RuntimeError(f"name pool {kind!r} exhausted")

    def _shuffled(self, items: list[str]) -> list[str]:
        return [items[i] for i in self.rng.permutation(len(items))]

    def road(self, generic: str) -> str:
        """A road name with the given generic (路, 街, 大道), e.g. 新华路."""
        return self._draw("road" + generic, lambda: self._shuffled([p + generic for p in ROAD_PROPERS]))

    def ordinal_road(self, proper: str, n: int, generic: str = "路") -> str:
        """A numbered road (工业三路): numbers in Chinese characters, as signs require."""
        name = f"{proper}{CHINESE_DIGITS[(n - 1) % 10]}{generic}"
        self.used.add(name)
        return name

    def lane(self) -> str:
        return self._draw(
            "lane",
            lambda: self._shuffled(
                [p + "巷" for p in LANE_PROPERS]
                + [p + "里" for p in LANE_PROPERS[:40]]
                + [p + "坊" for p in LANE_PROPERS[40:]]
            ),
        )

    def community(self) -> str:
        return self._draw("community", lambda: self._shuffled(list(COMMUNITY_PROPERS)))

    def village(self) -> str:
        """A natural village name such as 东坑, 陈厝, 石埕 (one word)."""
        return self._draw(
            "village",
            lambda: self._shuffled([a + b for a in VILLAGE_FIRST for b in VILLAGE_SECOND if a != b]),
        )

    def estate(self) -> str:
        def make():
            return self._shuffled([p + g for p in ESTATE_PROPERS for g in ESTATE_GENERICS])

        return self._draw("estate", make)

    def building(self) -> str:
        return self._draw(
            "building",
            lambda: self._shuffled(
                [p + g for p in ESTATE_PROPERS + ROAD_PROPERS[:40] for g in BUILDING_GENERICS]
            ),
        )

    def mountain(self) -> str:
        return self._draw(
            "mountain", lambda: self._shuffled([p + g for p in MOUNTAIN_PROPERS for g in ("山", "嶂", "峰")])
        )

    def proper(self) -> str:
        """A two-character proper for facilities and parks."""
        return self._draw("proper", lambda: self._shuffled(list(ESTATE_PROPERS) + list(ROAD_PROPERS)))


@lru_cache(maxsize=16)
def _by_length(generics: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(generics, key=len, reverse=True))


def split_generic(name: str, generics: tuple[str, ...]) -> tuple[str, str | None]:
    """Split ``name`` into (proper, generic) using the longest matching generic suffix."""
    for g in _by_length(tuple(generics)):
        if name.endswith(g) and len(name) > len(g):
            return name[: -len(g)], g
    return name, None


GENERICS = (
    "大道",
    "路",
    "街",
    "巷",
    "里",
    "公路",
    "花园",
    "小区",
    "苑",
    "家园",
    "新村",
    "雅居",
    "名苑",
    "公寓",
    "华庭",
    "山庄",
    "大厦",
    "大楼",
    "商厦",
    "中心",
    "广场",
    "公园",
    "大桥",
    "桥",
    "山",
    "嶂",
    "峰",
    "岭",
    "屿",
    "岛",
    "江",
    "溪",
    "河",
    "水库",
    "海域",
    "社区",
    "村",
    "镇",
    "街道",
    "区",
    "站",
    "码头",
    "城",
    "公馆",
    "御府",
    "新城",
    "老街",
    "古村",
    "湾",
    "园",
    "府",
)

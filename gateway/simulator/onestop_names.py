"""What the simulated one-stop system (:mod:`.onestop`) draws from: people, papers, procedures.

Three parts: data lists; the small generators that draw from them with the caller's
``random.Random``; and the two packaged CSV catalogues (procedures and agency codes, read with
:mod:`importlib.resources`). Names, numbers and files are invented, in Vietnamese (NFC):
nothing names a real person, the URLs use the ``example.gov.vn`` host, and component and
result codes are synthetic. Procedures, field codes and agency codes are the catalogues' rows.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import uuid
import zlib
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from importlib import resources
from random import Random
from typing import Any, NamedTuple

from gateway.model import (
    ApplicantType,
    Channel,
    DeliveryForm,
    Fee,
    IdentifierKind,
    OnlinePayment,
    OtherPaper,
    OwnerIdentifier,
    ResultDocument,
    ReuseKind,
    SubmittedDocument,
)

FILES_BASE_URL = "https://motcua.example.gov.vn/files"
RESULTS_BASE_URL = "https://motcua.example.gov.vn/ketqua"

SURNAMES = (
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ",
    "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý",
)  # fmt: skip
SURNAME_WEIGHTS = (38, 11, 9, 7, 5, 4, 4, 4, 3, 2, 2, 2, 2, 2, 1, 1)
MIDDLE_MALE = ("Văn", "Đức", "Minh", "Quốc", "Hữu", "Thanh", "Công", "Xuân", "Đình", "Gia")
MIDDLE_FEMALE = ("Thị", "Ngọc", "Thu", "Thanh", "Minh", "Hồng", "Bảo", "Khánh", "Phương", "Mai")
GIVEN_MALE = (
    "An", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hiếu", "Hùng", "Huy", "Khang", "Khôi",
    "Kiên", "Long", "Minh", "Nam", "Nghĩa", "Phong", "Phúc", "Quân", "Sơn", "Thắng",
    "Thành", "Trung", "Tuấn", "Việt", "Vinh",
)  # fmt: skip
GIVEN_FEMALE = (
    "Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hương", "Lan", "Linh",
    "Loan", "Mai", "My", "Ngân", "Ngọc", "Nhung", "Oanh", "Phương", "Quyên", "Thảo",
    "Trang", "Tuyết", "Uyên", "Vân", "Yến",
)  # fmt: skip

COMPANY_FORMS = ("Công ty TNHH", "Công ty Cổ phần", "Công ty TNHH MTV", "Doanh nghiệp tư nhân")
COMPANY_TRADES = ("Thương mại", "Xây dựng", "Dịch vụ", "Vận tải", "Nông sản", "Du lịch", "Cơ khí")
COMPANY_BRANDS = (
    "Minh Phát", "Hồng Hà", "Thành Công", "An Khang", "Phú Gia", "Sao Việt", "Đại Dương",
    "Hưng Thịnh", "Tân Tiến", "Bình Minh", "Trường Sơn", "Phương Nam",
)  # fmt: skip

MOBILE_PREFIXES = (
    "032", "033", "034", "035", "036", "037", "038", "039", "086", "096", "097", "098",
    "081", "083", "084", "085", "088", "091", "094", "070", "077", "079", "089", "090", "093",
)  # fmt: skip
MAIL_DOMAINS = ("gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com")

CCCD_PROVINCE = {
    "H56": "038", "H49": "022", "H41": "040", "H30": "093", "H05": "027", "H15": "066",
    "H17": "048", "H20": "087", "H21": "064", "H24": "031", "H35": "012", "H37": "020",
    "H38": "010", "H55": "019",
}  # fmt: skip
"""Agency code suffix -> first three digits of a CCCD number issued there [I]."""

FIELD_WEIGHTS = {
    "G15-TP07": 30, "G15-TP03": 25, "G01-CA05": 20, "G13-TN02": 10, "G05-KD10": 5,
    "G17-XD11": 3, "G07-LĐ09": 2, "G07-LĐ03": 3, "G05-KD07": 1, "G09-NV23": 1,
}  # fmt: skip
"""Relative share of dossiers per field (lĩnh vực); spread over the field's procedures."""

PROCEDURE_BOOST = {
    "1.001193": 5, "1.000656": 2, "1.000894": 2, "2.000635": 2,
    "2.000815": 4, "2.000884": 2, "1.004222": 2, "1.004194": 2,
}  # fmt: skip
"""The everyday procedures (khai sinh, chứng thực bản sao, thường trú...) are more frequent."""

BUSINESS_FIELDS = frozenset({"G05-KD07", "G09-NV23"})

FIELD_UNITS = {
    "G15-TP07": ("Phòng Tư pháp", "Công chức Tư pháp - Hộ tịch"),
    "G15-TP03": ("Phòng Tư pháp", "Công chức Tư pháp - Hộ tịch"),
    "G01-CA05": ("Công an xã", "Cán bộ đăng ký cư trú"),
    "G05-KD10": ("Phòng Kinh tế", "Chuyên viên"),
    "G05-KD07": ("Phòng Đăng ký kinh doanh", "Chuyên viên"),
    "G13-TN02": ("Phòng Kinh tế", "Công chức Địa chính - Xây dựng"),
    "G17-XD11": ("Phòng Kinh tế", "Công chức Địa chính - Xây dựng"),
    "G07-LĐ09": ("Phòng Văn hóa - Xã hội", "Công chức Văn hóa - Xã hội"),
    "G07-LĐ03": ("Phòng Văn hóa - Xã hội", "Công chức Văn hóa - Xã hội"),
    "G09-NV23": ("Phòng Nội vụ", "Chuyên viên"),
}
DEFAULT_UNIT = ("Phòng chuyên môn", "Chuyên viên")
DESK_UNIT = ("Bộ phận Một cửa", "Chuyên viên")
LEADER_UNIT = ("Lãnh đạo UBND", "Phó Chủ tịch UBND")
POLICE_LEADER_UNIT = ("Công an xã", "Trưởng Công an xã")

DOCUMENTS = {
    "G15-TP07": ("Tờ khai đăng ký hộ tịch", "Giấy chứng sinh", "Căn cước công dân người yêu cầu",
                 "Giấy chứng nhận kết hôn của cha mẹ", "Văn bản ủy quyền"),
    "G15-TP03": ("Bản chính giấy tờ cần chứng thực", "Căn cước công dân người yêu cầu",
                 "Dự thảo văn bản giao dịch"),
    "G01-CA05": ("Tờ khai thay đổi thông tin cư trú (CT01)", "Giấy tờ chứng minh chỗ ở hợp pháp",
                 "Văn bản đồng ý của chủ hộ"),
    "G13-TN02": ("Đơn đăng ký biến động đất đai", "Giấy chứng nhận quyền sử dụng đất",
                 "Hợp đồng chuyển nhượng đã công chứng", "Tờ khai lệ phí trước bạ"),
    "G17-XD11": ("Đơn đề nghị cấp giấy phép xây dựng", "Bản vẽ thiết kế xây dựng",
                 "Giấy tờ chứng minh quyền sử dụng đất"),
    "G05-KD10": ("Giấy đề nghị đăng ký hộ kinh doanh", "Căn cước công dân của chủ hộ kinh doanh",
                 "Hợp đồng thuê địa điểm kinh doanh"),
}  # fmt: skip
DEFAULT_DOCUMENTS = ("Đơn đề nghị", "Căn cước công dân người yêu cầu", "Giấy tờ liên quan")
OTHER_PAPERS = ("Bản sao Căn cước công dân", "Ảnh 4x6", "Bản chính Giấy chứng sinh")

TOPICS: tuple[tuple[str, str, str], ...] = (
    # (keyword in the lower-cased procedure name, summary template, result document)
    ("chứng thực", "", "Văn bản, giấy tờ đã được chứng thực"),
    ("sổ gốc", "", "Bản sao từ sổ gốc"),
    ("bản sao", "Cấp bản sao Trích lục hộ tịch cho {owner}", "Bản sao Trích lục hộ tịch"),
    ("kết hợp", "Đăng ký khai sinh kết hợp nhận cha, con cho cháu {child}", "Giấy khai sinh"),
    ("lại khai sinh", "Đăng ký lại khai sinh cho {owner}", "Giấy khai sinh (đăng ký lại)"),
    ("người đã có", "Đăng ký khai sinh cho {owner} (đã có giấy tờ cá nhân)", "Giấy khai sinh"),
    ("khai sinh", "Đăng ký khai sinh cho cháu {child}", "Giấy khai sinh"),
    ("khai tử", "Đăng ký khai tử cho {deceased}", "Trích lục khai tử"),
    ("kết hôn", "Đăng ký kết hôn giữa anh {groom} và chị {bride}", "Giấy chứng nhận kết hôn"),
    ("hôn nhân", "Xác nhận tình trạng hôn nhân cho {owner}", "Giấy xác nhận tình trạng hôn nhân"),
    ("nhận cha", "Đăng ký nhận cha, mẹ, con cho cháu {child}",
     "Trích lục đăng ký nhận cha, mẹ, con"),
    ("giám hộ", "Đăng ký giám hộ cho cháu {child}", "Trích lục đăng ký giám hộ"),
    ("cải chính", "Cải chính ngày sinh trong Giấy khai sinh của {owner}",
     "Trích lục cải chính hộ tịch"),
    ("hộ tịch", "Xác nhận thông tin hộ tịch cho {owner}", "Văn bản xác nhận thông tin hộ tịch"),
    ("thường trú", "", "Thông báo kết quả giải quyết đăng ký thường trú"),
    ("tạm trú", "", "Thông báo kết quả giải quyết đăng ký tạm trú"),
    ("lưu trú", "", "Xác nhận đã tiếp nhận thông báo lưu trú"),
    ("tạm vắng", "", "Thông báo kết quả khai báo tạm vắng"),
    ("cư trú", "", "Văn bản xác nhận thông tin về cư trú"),
    ("tách hộ", "", "Thông báo kết quả giải quyết tách hộ"),
    ("chấm dứt", "", "Thông báo về việc chấm dứt hoạt động hộ kinh doanh"),
    ("tạm ngừng", "", "Thông báo về việc tạm ngừng, tiếp tục kinh doanh"),
    ("hộ kinh doanh", "", "Giấy chứng nhận đăng ký hộ kinh doanh"),
    ("biến động", "", "Giấy chứng nhận đã xác nhận nội dung biến động"),
    ("xây dựng", "", "Giấy phép xây dựng"),
    ("hòa giải", "", "Biên bản hòa giải thành"),
    ("thửa", "", "Giấy chứng nhận quyền sử dụng đất (sau tách, hợp thửa)"),
    ("giấy chứng nhận", "",
     "Giấy chứng nhận quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất"),
    ("trợ cấp", "", "Quyết định hưởng trợ cấp"),
    ("mai táng", "", "Quyết định hỗ trợ chi phí mai táng"),
    ("khuyết tật", "", "Giấy xác nhận khuyết tật"),
    ("người có công", "", "Giấy xác nhận thân nhân của người có công"),
    ("nội quy lao động", "", "Thông báo tiếp nhận nội quy lao động"),
    ("doanh nghiệp", "", "Giấy chứng nhận đăng ký doanh nghiệp"),
)  # fmt: skip
"""First match wins; an empty template means "<procedure> cho <owner>"."""
DEFAULT_RESULT = "Văn bản kết quả giải quyết thủ tục hành chính"

RECEPTION_ACTIONS = {
    1: "Tiếp nhận hồ sơ trực tiếp tại Bộ phận Một cửa",
    2: "Tiếp nhận hồ sơ nộp trực tuyến",
    3: "Tiếp nhận hồ sơ qua dịch vụ bưu chính công ích",
}
TRANSFER_ACTION = "Chuyển hồ sơ đến {department} xử lý"
REVIEW_ACTIONS = ("Thẩm định hồ sơ", "Kiểm tra, xác minh hồ sơ", "Xem xét, xử lý hồ sơ")
SUBMIT_ACTION = "Trình lãnh đạo ký duyệt kết quả"
FINISH_ACTION = "Ký duyệt kết quả, chuyển Bộ phận Một cửa trả kết quả"
RETURN_ACTIONS = {
    1: "Trả kết quả trực tiếp tại Bộ phận Một cửa",
    2: "Trả kết quả điện tử qua tài khoản Cổng Dịch vụ công, bản giấy tại Bộ phận Một cửa",
    3: "Gửi kết quả qua dịch vụ bưu chính công ích",
}
SUPPLEMENT_REASONS = (
    "Ảnh chụp Căn cước công dân bị mờ, đề nghị tải lại bản rõ nét",
    "Thiếu chữ ký của người yêu cầu trên tờ khai",
    "Bổ sung bản sao giấy tờ chứng minh quan hệ nhân thân",
    "Bổ sung giấy tờ chứng minh chỗ ở hợp pháp",
    "Thông tin trên tờ khai chưa khớp với Cơ sở dữ liệu quốc gia về dân cư",
)
SUPPLEMENT_RECEIVED_ACTION = "Tiếp nhận hồ sơ bổ sung"
SUPPLEMENT_RECEIVED_INFO = "Đã nhận đủ giấy tờ bổ sung"
REFUSAL_REASONS = (
    "Hồ sơ không thuộc thẩm quyền giải quyết",
    "Thành phần hồ sơ không đầy đủ theo quy định",
    "Người nộp không có tài khoản định danh điện tử hợp lệ",
)
REFUSAL_ACTION = "Từ chối tiếp nhận hồ sơ: {reason}"
FEES_ACTION = "Thông báo thực hiện nghĩa vụ tài chính"
FEES_PAID_ACTION = "Công dân đã hoàn thành nghĩa vụ tài chính"
FEE_ITEMS = (
    ("Lệ phí trước bạ", 500_000, 4_000_000),
    ("Phí thẩm định hồ sơ", 100_000, 500_000),
    ("Lệ phí cấp Giấy chứng nhận", 25_000, 100_000),
)
WITHDRAWAL_ACTION = "Công dân có đơn đề nghị rút hồ sơ"
PROVINCIAL_DESK_UNIT = ("Trung tâm Phục vụ hành chính công tỉnh", "Chuyên viên")
PROVINCIAL_LEADER_UNIT = ("Lãnh đạo Sở", "Phó Giám đốc Sở")
PROVINCIAL_UNITS = {
    "G13-TN02": ("Văn phòng Đăng ký đất đai", "Chuyên viên"),
    "G05-KD07": ("Phòng Đăng ký kinh doanh", "Chuyên viên"),
    "G15-TP07": ("Phòng Hành chính tư pháp", "Chuyên viên"),
}


class Staff(NamedTuple):
    """A cán bộ who handles a step: ``NguoiXuLy``, ``ChucDanh``, ``PhongBanXuLy``."""

    name: str
    title: str
    department: str


Unit = tuple[str, str]
"""(department, title)."""


def units(field_code: str, provincial: bool) -> tuple[Unit, Unit, Unit]:
    """Who receives, who processes and who signs a dossier of this field and level."""
    if provincial:
        specialists = PROVINCIAL_UNITS.get(field_code, DEFAULT_UNIT)
        return PROVINCIAL_DESK_UNIT, specialists, PROVINCIAL_LEADER_UNIT
    leader = POLICE_LEADER_UNIT if field_code == "G01-CA05" else LEADER_UNIT
    return DESK_UNIT, FIELD_UNITS.get(field_code, DEFAULT_UNIT), leader


P_BUSINESS = 0.03
"""Share of businesses among applicants outside the business fields."""


def person(rng: Random, surname: str = "") -> tuple[str, bool]:
    """A full name (họ, đệm, tên) and whether it is a man's."""
    male = rng.random() < 0.5
    surname = surname or rng.choices(SURNAMES, SURNAME_WEIGHTS)[0]
    middle = rng.choice(MIDDLE_MALE if male else MIDDLE_FEMALE)
    return f"{surname} {middle} {rng.choice(GIVEN_MALE if male else GIVEN_FEMALE)}", male


def slug(text: str) -> str:
    """ASCII, lower case, dashes: for URLs and e-mail addresses."""
    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    ascii_text = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


def uid(rng: Random) -> str:
    """A UUID drawn from ``rng`` (reproducible, unlike :func:`uuid.uuid4`)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def short_name(procedure_name: str) -> str:
    """The name without "Thủ tục", up to its first comma, capitalised: for summaries."""
    name = re.sub(r"^Thủ tục\s+", "", procedure_name).split(",", 1)[0].rstrip(" .")
    return name[:1].upper() + name[1:]


def cccd(rng: Random, agency: str, male: bool) -> str:
    """A 12-digit CCCD number: province of birth, sex and century, year of birth, 6 digits."""
    local = CCCD_PROVINCE.get(agency.rsplit(".", 1)[-1][:3])
    others = list(CCCD_PROVINCE.values())
    province = local if local and rng.random() < 0.85 else rng.choice(others)
    year = rng.randint(1950, 2006)
    sex = (0 if male else 1) + (2 if year >= 2000 else 0)
    return f"{province}{sex}{year % 100:02d}{rng.randrange(10**6):06d}"


def summary(rng: Random, procedure_name: str, owner: str, male: bool, business: bool) -> str:
    """``TrichYeuHoSo``: what the dossier asks for, and for whom."""
    template = next((t for key, t, _ in TOPICS if key in procedure_name.lower()), "")
    display = owner if business else f"{'ông' if male else 'bà'} {owner}"
    if not template:
        return f"{short_name(procedure_name)} {'-' if business else 'cho'} {display}"
    surname = owner.split(maxsplit=1)[0]
    partner = person(rng)[0]
    deceased, deceased_male = person(rng, surname)
    return template.format(
        owner=display,
        child=person(rng, surname)[0],
        deceased=f"{'ông' if deceased_male else 'bà'} {deceased}",
        groom=owner if male else partner,
        bride=partner if male else owner,
    )


def owner_fields(
    rng: Random, procedure_name: str, field_code: str, agency: str, online: bool
) -> dict[str, Any]:
    """The owner fields of a dossier (name, ID numbers, contact) and its summary."""
    name, male = person(rng)
    number = cccd(rng, agency, male)
    business = field_code in BUSINESS_FIELDS or rng.random() < P_BUSINESS
    mailbox = f"{slug(name).replace('-', '')}{rng.randint(1, 99)}@{rng.choice(MAIL_DOMAINS)}"
    owner: dict[str, Any] = {
        "owner_name": name,
        "owner_id_number": number,
        "owner_identifiers": (OwnerIdentifier(IdentifierKind.CCCD, number),),
        "phone": rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**7):07d}",
        "email": mailbox if online or rng.random() < 0.5 else "",
    }
    if business:
        brand = rng.choice(COMPANY_BRANDS)
        trade = rng.choice(COMPANY_TRADES)
        owner["owner_name"] = f"{rng.choice(COMPANY_FORMS)} {trade} {brand}"
        owner["applicant_type"] = ApplicantType.BUSINESS
        owner["owner_id_number"] = str(rng.randrange(10**9, 10**10))  # mã số doanh nghiệp
        owner["other_info"] = f"Người đại diện theo pháp luật: {name}"
        owner["email"] = f"lienhe@{slug(brand).replace('-', '')}.com.vn"
    owner["summary"] = summary(rng, procedure_name, owner["owner_name"], male, business)
    return owner


def paper_fields(rng: Random, proc: Procedure, channel: Channel, at: datetime) -> dict[str, Any]:
    """The papers of a new dossier (files, fees, paper items), with the flags they imply."""
    online = channel is Channel.ONLINE
    documents = submitted_documents(rng, proc.code, proc.field_code, online, at)
    fee = proc.fees.get(channel, 0)
    payment = OnlinePayment.NONE
    if fee and online:
        options = (OnlinePayment.NONE, OnlinePayment.ON_PORTAL, OnlinePayment.LOCAL_GATEWAY)
        payment = rng.choices(options, (20, 45, 35))[0]
    by_post = channel is Channel.POSTAL or (online and rng.random() < 0.15)
    paper = OtherPaper(rng.choice(OTHER_PAPERS), 1)
    return {
        "documents": documents,
        "has_digitised_components": any(d.digitised for d in documents),
        "fees": (Fee(f"Lệ phí {short_name(proc.name).lower()}", fee),) if fee else (),
        "online_payment": payment,
        "other_papers": () if online or rng.random() < 0.7 else (paper,),
        "delivery_form": DeliveryForm.BY_POST if by_post else DeliveryForm.AT_DESK,
        "vneid_verified": rng.random() < (0.85 if online else 0.1),
    }


def submitted_documents(
    rng: Random, procedure_code: str, field_code: str, online: bool, day: datetime
) -> tuple[SubmittedDocument, ...]:
    """``TaiLieuNop``: the field's main form and up to two supporting papers."""
    pool = DOCUMENTS.get(field_code, DEFAULT_DOCUMENTS)
    chosen = [pool[0], *rng.sample(pool[1:], rng.randint(0, min(2, len(pool) - 1)))]
    return tuple(
        submitted_document(rng, f"{procedure_code}.TP{number:02d}", title, online, day)
        for number, title in enumerate(chosen, 1)
    )


def submitted_document(
    rng: Random, component_code: str, title: str, online: bool, day: datetime
) -> SubmittedDocument:
    """One uploaded (online) or scanned (at the desk, usually digitised) file."""
    file_id = uid(rng)
    from_store = online and rng.random() < 0.3
    return SubmittedDocument(
        file_id=file_id,
        file_name=f"{title}.pdf",
        download_url=f"{FILES_BASE_URL}/{day:%Y/%m/%d}/{file_id}/{slug(title)}.pdf",
        component_code=component_code,
        digitised=online or rng.random() < 0.6,
        reuse=ReuseKind.REUSED if from_store else ReuseKind.NOT_REUSED,
        from_personal_store=from_store,
    )


def result_documents(
    rng: Random, procedure_code: str, procedure_name: str, field_code: str, at: datetime
) -> tuple[ResultDocument, ...]:
    """``DanhSachGiayToKetQua``: the issued paper, with a link and a (synthetic) result code."""
    title = next((r for key, _, r in TOPICS if key in procedure_name.lower()), DEFAULT_RESULT)
    document_id = uid(rng)
    ministry = field_code.split("-", 1)[0]
    digits = zlib.crc32(procedure_code.encode()) % 10**6
    return (
        ResultDocument(
            name=title,
            document_id=document_id,
            download_url=f"{RESULTS_BASE_URL}/{at:%Y/%m}/{document_id}/{slug(title)}.pdf",
            result_code=f"000.00.00.{ministry}-KQ{digits:06d}",
        ),
    )


# --- the packaged catalogues -------------------------------------------------------------


class Duration(NamedTuple):
    """A legal processing time: ``unit`` is ``WORKING_DAY``, ``DAY`` or ``HOUR``."""

    unit: str
    amount: int


DEFAULT_DURATION = Duration("WORKING_DAY", 3)


class Procedure(NamedTuple):
    """A row of ``tthc-sample.csv``, with its times and fees per accepted channel."""

    code: str
    name: str
    field_code: str
    field_name: str
    provincial: bool
    times: Mapping[Channel, Duration]
    fees: Mapping[Channel, int]


_TIME = re.compile(
    r"(?:(trực tuyến|bưu chính|trực tiếp)\s+)?(\d+)\s+(WORKING_DAY|DAY|HOUR|OTHER|ngày)"
)
_CASE = re.compile(r"=(\d+)\s+(WORKING_DAY|DAY|HOUR)\b")
_ONLY = re.compile(r"\(chỉ (trực tuyến|bưu chính|trực tiếp)\)")
_FEE = re.compile(r"(\d{1,3}(?:\.\d{3})+)\s*đ(?:/\w+)?\s*(trực tuyến|trực tiếp)?")
_CHANNEL_WORDS = {
    "trực tiếp": Channel.AT_DESK,
    "trực tuyến": Channel.ONLINE,
    "bưu chính": Channel.POSTAL,
}


def parse_processing_time(thoi_han: str) -> dict[Channel, Duration]:
    """The legal processing time per channel from a ``thoi_han`` cell; the channels present
    are those the procedure accepts. ``OTHER`` takes the first per-case value with a real unit
    (else its number in working days); no number at all means 3 working days."""
    head, _, rest = thoi_han.partition(" | ")
    head = head.split(" — ")[0]
    case = _CASE.search(rest)
    fallback = Duration(case[2], int(case[1])) if case else DEFAULT_DURATION
    only = _ONLY.search(head)
    everywhere = [_CHANNEL_WORDS[only[1]]] if only else list(Channel)
    times: dict[Channel, Duration] = {}
    for segment in head.split(";"):
        match = _TIME.search(segment)
        if match is None:
            continue
        unit = {"ngày": "DAY", "OTHER": "WORKING_DAY"}.get(match[3], match[3])
        duration = fallback if match[3] == "OTHER" and case else Duration(unit, int(match[2]))
        for channel in [_CHANNEL_WORDS[match[1]]] if match[1] else everywhere:
            times.setdefault(channel, duration)
    return times or dict.fromkeys(everywhere, fallback)


def parse_fees(co_phi: str) -> dict[Channel, int]:
    """The fee in đồng per channel from a ``co_phi`` cell that starts with "có" (the first
    amount, or the one marked "trực tuyến" / "trực tiếp"); empty when none is given."""
    if not co_phi.startswith("có"):
        return {}
    found = [(int(a.replace(".", "")), w) for a, w in _FEE.findall(co_phi)]
    if not found:
        return {}
    online = next((a for a, w in found if w == "trực tuyến"), found[0][0])
    desk = next((a for a, w in found if w == "trực tiếp"), found[0][0])
    return {Channel.ONLINE: online, Channel.AT_DESK: desk, Channel.POSTAL: desk}


def read_csv(file_name: str) -> list[dict[str, str]]:
    """The rows of a packaged CSV file, values stripped and NFC-normalised."""
    text = (resources.files("gateway.simulator") / "data" / file_name).read_text(encoding="utf-8")
    return [
        {key: unicodedata.normalize("NFC", value.strip()) for key, value in row.items() if key}
        for row in csv.DictReader(io.StringIO(text))  # a row with a stray comma: extras dropped
    ]


@cache
def catalogue() -> tuple[tuple[Procedure, ...], dict[str, tuple[str, str]]]:
    """Procedures with a field code (DVCQG requires one), and agencies: code -> (name, cap)."""
    procedures = tuple(
        Procedure(
            code=row["ma_tthc"],
            name=row["ten_tthc"],
            field_code=row["ma_linh_vuc"],
            field_name=row["ten_linh_vuc"],
            provincial=row["cap_thuc_hien"].startswith("Cấp Tỉnh"),
            times=parse_processing_time(row["thoi_han"]),
            fees=parse_fees(row["co_phi"]),
        )
        for row in read_csv("tthc-sample.csv")
        if row["ma_linh_vuc"]
    )
    rows = read_csv("agency-codes-sample.csv")
    return procedures, {r["ma_dinh_danh"]: (r["ten_co_quan"], r["cap"]) for r in rows}

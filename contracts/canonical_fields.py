"""What each canonical input field means, once: ``canonical/v1/`` is generated from this
table together with the model's dataclasses (``gateway/model.py``).

The model says the field names, the types and which fields are required; this table adds
what a vendor needs to fill them: the DVCQG field each one becomes (whose spec section and
confidence label come from :mod:`contracts.fields`) and a description in Vietnamese and in
English. A test fails when a model field has no line here, or a line names no model field.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Meaning:
    """``dvcqg``: the wire field (``HoSo.MaHoSo``, ``envelope.madonvi``; empty when the field
    is not sent); ``en`` and ``vi``: what the field holds."""

    dvcqg: str
    en: str
    vi: str


M = Meaning

OBJECTS: dict[str, str] = {
    "Dossier": "HoSo",
    "ProgressStep": "TienDo",
    "Result": "HoSo",
    "SubmittedDocument": "TepDinhKem",
    "Fee": "LePhi",
    "OtherPaper": "GiayToKhac",
    "Supplement": "HoSoBoSung",
    "ResultDocument": "GiayToKetQua",
    "OwnerIdentifier": "DinhDanh",
}
"""Model class -> the DVCQG object (of :data:`contracts.fields.OBJECTS`) it becomes."""

_AGENCY = M(
    "envelope.madonvi",
    "MaDinhDanh of the receiving agency; the envelope's madonvi and the MaHoSo prefix "
    "(see 'Agency code and MaHoSo')",
    "Mã định danh (MaDinhDanh) của cơ quan tiếp nhận; là madonvi của gói tin và là tiền tố "
    "của MaHoSo (xem 'Mã đơn vị và MaHoSo')",
)

MEANINGS: dict[str, dict[str, Meaning]] = {
    "Dossier": {
        "dossier_code": M(
            "HoSo.MaHoSo",
            "Dossier code, unique nationally: '<agency code>-<yymmdd>-<number>'",
            "Mã hồ sơ, duy nhất toàn quốc: '<mã đơn vị>-<yymmdd>-<số thứ tự>'",
        ),
        "agency_code": _AGENCY,
        "procedure_code": M(
            "HoSo.MaTTHC",
            "DVCQG procedure code (a local code is mapped by routes.mappings.procedures)",
            "Mã thủ tục hành chính trên CSDL quốc gia (mã địa phương được ánh xạ qua "
            "routes.mappings.procedures)",
        ),
        "status": M(
            "HoSo.TrangThaiHoSo",
            "Dossier status 1-10 (spec §6.1)",
            "Trạng thái hồ sơ 1-10 (mục §6.1)",
        ),
        "received_at": M(
            "HoSo.NgayTiepNhan",
            "When the agency received the dossier; null only while the status is 1",
            "Ngày tiếp nhận hồ sơ; chỉ để null khi trạng thái là 1",
        ),
        "due_at": M(
            "HoSo.NgayHenTra",
            "Promised return date; null only for status 1 or 3",
            "Ngày hẹn trả kết quả; chỉ để null khi trạng thái là 1 hoặc 3",
        ),
        "owner_name": M("HoSo.ChuHoSo", "Name of the dossier's owner", "Họ tên chủ hồ sơ"),
        "applicant_type": M(
            "HoSo.LoaiDoiTuong",
            "1 citizen, 2 business, 3 state agency, 4 organisation",
            "1 công dân, 2 doanh nghiệp, 3 cơ quan nhà nước, 4 tổ chức",
        ),
        "procedure_name": M("HoSo.TenTTHC", "Procedure name", "Tên thủ tục hành chính"),
        "field_code": M("HoSo.MaLinhVuc", "Field (lĩnh vực) code", "Mã lĩnh vực"),
        "field_name": M("HoSo.TenLinhVuc", "Field (lĩnh vực) name", "Tên lĩnh vực"),
        "channel": M(
            "HoSo.KenhThucHien",
            "1 at the desk, 2 online, 3 by public post; null when unknown",
            "1 trực tiếp, 2 trực tuyến, 3 qua bưu chính công ích; null khi không rõ",
        ),
        "receipt_number": M("HoSo.SoBienNhan", "Receipt number", "Số biên nhận"),
        "owner_account_id": M(
            "HoSo.MaDoiTuong",
            "The owner's DVCQG account TechID",
            "Mã định danh tài khoản (TechID) của chủ hồ sơ trên Cổng DVCQG",
        ),
        "other_info": M("HoSo.ThongTinKhac", "Other information", "Thông tin khác"),
        "email": M(
            "HoSo.Email", "Owner's e-mail (personal data)", "Email chủ hồ sơ (dữ liệu cá nhân)"
        ),
        "fax": M("HoSo.Fax", "Owner's fax number", "Số fax chủ hồ sơ"),
        "phone": M(
            "HoSo.SoDienThoai",
            "Owner's phone number (personal data)",
            "Số điện thoại chủ hồ sơ (dữ liệu cá nhân)",
        ),
        "summary": M(
            "HoSo.TrichYeuHoSo",
            "Summary of the request (1000 characters at most on the wire)",
            "Trích yếu hồ sơ (tối đa 1000 ký tự khi gửi)",
        ),
        "returned_at": M(
            "HoSo.NgayTra", "When the result was handed over", "Ngày trả kết quả cho công dân"
        ),
        "return_info": M(
            "HoSo.ThongTinTra", "How the result was returned", "Thông tin trả kết quả"
        ),
        "delivery_form": M(
            "HoSo.HinhThuc",
            "How the result is handed over: 0 at the desk, 1 by post",
            "Hình thức trả kết quả: 0 tại bộ phận một cửa, 1 qua bưu điện",
        ),
        "processing_finished_at": M(
            "HoSo.NgayKetThucXuLy",
            "When processing finished (compared with due_at for on-time scoring)",
            "Ngày kết thúc xử lý (so với ngày hẹn trả để đánh giá đúng hạn)",
        ),
        "handling_agency_name": M(
            "HoSo.DonViXuLy", "Name of the handling agency", "Tên đơn vị xử lý hồ sơ"
        ),
        "note": M("HoSo.GhiChu", "Free note", "Ghi chú"),
        "documents": M("HoSo.TaiLieuNop", "Files the applicant submitted", "Tài liệu đã nộp"),
        "fees": M("HoSo.DanhSachLePhi", "Fees and charges", "Danh sách phí, lệ phí"),
        "other_papers": M(
            "HoSo.DanhSachTepDinhKemKhac",
            "Paper items handed in (not files)",
            "Giấy tờ khác nộp kèm (bản giấy)",
        ),
        "supplements": M(
            "HoSo.DanhSachHoSoBoSung", "Supplement rounds", "Các lần yêu cầu bổ sung hồ sơ"
        ),
        "result_documents": M(
            "HoSo.DanhSachGiayToKetQua", "Issued result papers", "Giấy tờ kết quả đã cấp"
        ),
        "owner_id_number": M(
            "HoSo.SoGiayToChuHoSo",
            "Owner's ID paper number (personal data)",
            "Số giấy tờ tùy thân của chủ hồ sơ (dữ liệu cá nhân)",
        ),
        "submission_place": M(
            "HoSo.NoiNopHoSo",
            "Where it was submitted: 1 portal, 2 local system",
            "Nơi nộp hồ sơ: 1 Cổng DVCQG, 2 hệ thống địa phương",
        ),
        "has_digitised_components": M(
            "HoSo.HoSoCoThanhPhanSoHoa",
            "The dossier has digitised components",
            "Hồ sơ có thành phần được số hóa",
        ),
        "vneid_verified": M(
            "HoSo.TaiKhoanDuocXacThucVoiVNeID",
            "The owner's account is verified with VNeID",
            "Tài khoản của chủ hồ sơ đã xác thực với VNeID",
        ),
        "online_payment": M(
            "HoSo.DuocThanhToanTrucTuyen",
            "0 no online payment, 1 paid on DVCQG, 2 paid through a local gateway",
            "0 không thanh toán trực tuyến, 1 thanh toán trên Cổng DVCQG, 2 qua cổng địa phương",
        ),
        "refused_at": M(
            "HoSo.NgayTuChoi",
            "When the dossier was refused; needed for status 3",
            "Ngày từ chối tiếp nhận; bắt buộc với trạng thái 3",
        ),
        "owner_identifiers": M(
            "HoSo.DinhDanhCHS",
            "The owner's identity numbers (personal data)",
            "Số định danh của chủ hồ sơ (dữ liệu cá nhân)",
        ),
        "submitted_at": M("HoSo.NgayNopHoSo", "When it was submitted", "Ngày nộp hồ sơ"),
        "databases_consulted": M(
            "HoSo.DSKetNoiCSDL",
            "Codes (MaCSDL) of the national databases consulted",
            "Mã các cơ sở dữ liệu quốc gia đã kết nối (MaCSDL)",
        ),
        "origin_dossier_code": M(
            "",
            "For a derived inter-agency (liên thông) dossier, the MaHoSo it derives from; "
            "such dossiers are not sent (spec §1.5)",
            "Với hồ sơ liên thông phát sinh: MaHoSo của hồ sơ gốc; hồ sơ này không được gửi "
            "(mục §1.5)",
        ),
    },
    "ProgressStep": {
        "dossier_code": M(
            "TienDo.MaHoSo",
            "MaHoSo of the dossier this step belongs to (see 'How a step is tied to its dossier')",
            "MaHoSo của hồ sơ mà bước xử lý thuộc về (xem 'Bước xử lý gắn với hồ sơ thế nào')",
        ),
        "agency_code": _AGENCY,
        "handler": M("TienDo.NguoiXuLy", "Who handled the step", "Người xử lý"),
        "handled_at": M("TienDo.ThoiDiemXuLy", "When the step was handled", "Thời điểm xử lý"),
        "action": M("TienDo.NoiDungXuLy", "What was done", "Nội dung xử lý"),
        "status": M(
            "TienDo.TrangThai", "Dossier status after this step (1-10)", "Trạng thái sau bước này"
        ),
        "title": M("TienDo.ChucDanh", "Handler's job title", "Chức danh người xử lý"),
        "department": M("TienDo.PhongBanXuLy", "Handling department", "Phòng ban xử lý"),
        "started_at": M("TienDo.NgayBatDau", "When the step started", "Ngày bắt đầu bước xử lý"),
        "deadline_at": M(
            "TienDo.NgayKetThucTheoQuyDinh",
            "When the step must end by regulation",
            "Ngày kết thúc theo quy định",
        ),
    },
    "Result": {
        "dossier_code": M(
            "HoSo.MaHoSo",
            "MaHoSo of an already accepted dossier whose outcome this is",
            "MaHoSo của hồ sơ đã được tiếp nhận trước đó",
        ),
        "agency_code": _AGENCY,
        "status": M(
            "HoSo.TrangThaiHoSo",
            "9 (finished) or 10 (returned); also TienDo.TrangThai of the closing step",
            "9 (đã xử lý xong) hoặc 10 (đã trả kết quả); cũng là TrangThai của bước kết thúc",
        ),
        "finished_at": M(
            "HoSo.NgayKetThucXuLy",
            "When processing finished; also ThoiDiemXuLy of the closing step",
            "Ngày kết thúc xử lý; cũng là ThoiDiemXuLy của bước kết thúc",
        ),
        "handler": M("TienDo.NguoiXuLy", "Who closed the dossier", "Người xử lý bước kết thúc"),
        "action": M(
            "TienDo.NoiDungXuLy",
            "Text of the closing step (default: the status label)",
            "Nội dung bước kết thúc (mặc định: tên trạng thái)",
        ),
        "returned_at": M(
            "HoSo.NgayTra", "When the result was handed over (status 10)", "Ngày trả kết quả"
        ),
        "return_info": M(
            "HoSo.ThongTinTra", "How the result was returned", "Thông tin trả kết quả"
        ),
        "delivery_form": M(
            "HoSo.HinhThuc",
            "0 at the desk, 1 by post; null keeps the snapshot's value",
            "0 tại một cửa, 1 qua bưu điện; null giữ giá trị đã có",
        ),
        "result_documents": M(
            "HoSo.DanhSachGiayToKetQua", "Issued result papers", "Giấy tờ kết quả đã cấp"
        ),
        "title": M("TienDo.ChucDanh", "Job title on the closing step", "Chức danh ở bước kết thúc"),
        "department": M(
            "TienDo.PhongBanXuLy", "Department on the closing step", "Phòng ban ở bước kết thúc"
        ),
    },
    "SubmittedDocument": {
        "file_id": M("TepDinhKem.TepDinhKemId", "File id in your system", "Mã tệp đính kèm"),
        "file_name": M("TepDinhKem.TenTepDinhKem", "File name", "Tên tệp đính kèm"),
        "download_url": M(
            "TepDinhKem.DuongDanTaiTepTin",
            "Absolute http(s) URL the portal can download",
            "Đường dẫn http(s) tuyệt đối để Cổng tải tệp",
        ),
        "component_code": M(
            "TepDinhKem.MaThanhPhanHoSo", "Dossier component code", "Mã thành phần hồ sơ"
        ),
        "deleted": M("TepDinhKem.IsDeleted", "The file was withdrawn", "Tệp đã bị xóa"),
        "digitised": M("TepDinhKem.DuocSoHoa", "The file was digitised", "Tệp được số hóa"),
        "reuse": M(
            "TepDinhKem.DuocTaiSuDung",
            "0 not reused, 1 reused, 2 replaced by a result",
            "0 không tái sử dụng, 1 tái sử dụng, 2 thay thế bằng kết quả",
        ),
        "from_personal_store": M(
            "TepDinhKem.DuocLayTuKhoDMQG",
            "Taken from the citizen's personal store on DVCQG",
            "Lấy từ kho dữ liệu cá nhân trên Cổng DVCQG",
        ),
        "replacing_result_code": M(
            "TepDinhKem.MaKetQuaThayThe",
            "Code of the result that replaces this file",
            "Mã kết quả thay thế",
        ),
    },
    "Fee": {
        "name": M("LePhi.TenPhiLePhi", "Fee name", "Tên phí, lệ phí"),
        "amount_vnd": M("LePhi.Gia", "Amount in đồng (an integer)", "Số tiền (đồng, số nguyên)"),
        "code": M("LePhi.MaPhiLePhi", "Fee code", "Mã phí, lệ phí"),
        "collection_form": M("LePhi.HinhThucThu", "How it is collected", "Hình thức thu"),
        "fee_type": M("LePhi.LoaiPhiLePhi", "Fee type", "Loại phí, lệ phí"),
    },
    "OtherPaper": {
        "name": M("GiayToKhac.TenGiayTo", "Paper name", "Tên giấy tờ"),
        "quantity": M("GiayToKhac.SoLuong", "How many copies", "Số lượng"),
        "paper_type": M("GiayToKhac.LoaiGiayTo", "Paper type code", "Loại giấy tờ"),
    },
    "Supplement": {
        "supplement_id": M("HoSoBoSung.HoSoBoSungId", "Supplement round id", "Mã lần bổ sung"),
        "requested_by": M(
            "HoSoBoSung.NguoiYeuCauBoSung", "Who asked for it", "Người yêu cầu bổ sung"
        ),
        "content": M("HoSoBoSung.NoiDungBoSung", "What is asked for", "Nội dung yêu cầu bổ sung"),
        "requested_at": M("HoSoBoSung.NgayBoSung", "When it was asked", "Ngày yêu cầu bổ sung"),
        "received_by": M(
            "HoSoBoSung.NguoiTiepNhanBoSung",
            "Who received the supplement",
            "Người tiếp nhận bổ sung",
        ),
        "reception_info": M(
            "HoSoBoSung.ThongTinTiepNhan", "Reception details", "Thông tin tiếp nhận"
        ),
        "received_at": M(
            "HoSoBoSung.NgayTiepNhanBoSung",
            "When the supplement was received",
            "Ngày tiếp nhận bổ sung",
        ),
        "completed": M(
            "HoSoBoSung.TrangThaiBoSung", "The supplement is complete", "Đã bổ sung xong"
        ),
        "documents": M("HoSoBoSung.DanhSachGiayToBoSung", "Files supplied", "Giấy tờ bổ sung"),
        "fees": M("HoSoBoSung.DanhSachLePhiBoSung", "Extra fees", "Lệ phí bổ sung"),
        "previous_due_at": M(
            "HoSoBoSung.NgayHenTraTruoc", "Due date before the round", "Ngày hẹn trả trước đó"
        ),
        "new_due_at": M("HoSoBoSung.NgayHenTraMoi", "New due date", "Ngày hẹn trả mới"),
    },
    "ResultDocument": {
        "name": M("GiayToKetQua.TenGiayTo", "Paper name", "Tên giấy tờ kết quả"),
        "document_id": M("GiayToKetQua.GiayToId", "Paper id", "Mã giấy tờ"),
        "download_url": M(
            "GiayToKetQua.DuongDanTepTinKetQua",
            "Absolute http(s) URL of the result file",
            "Đường dẫn http(s) tuyệt đối của tệp kết quả",
        ),
        "component_code": M(
            "GiayToKetQua.MaThanhPhanHoSo", "Dossier component code", "Mã thành phần hồ sơ"
        ),
        "result_code": M("GiayToKetQua.MaGiayToKetQua", "Result paper code", "Mã giấy tờ kết quả"),
    },
    "OwnerIdentifier": {
        "kind": M(
            "DinhDanh.LoaiDinhDanh",
            "1 = 12-digit CCCD, 2 = 9-digit CMND",
            "1 = CCCD 12 số, 2 = CMND 9 số",
        ),
        "number": M(
            "DinhDanh.SoDinhDanh", "The number (personal data)", "Số định danh (dữ liệu cá nhân)"
        ),
    },
}
"""Model class -> field -> meaning."""

KIND_DOCS: dict[str, Meaning] = {
    "dossier": M(
        "DongBoHoSoMC",
        "A full snapshot of one dossier; a later snapshot replaces an undelivered earlier one",
        "Toàn bộ thông tin một hồ sơ; bản sau thay thế bản trước chưa gửi",
    ),
    "progress": M(
        "CapNhatTienDoHoSoMC",
        "One processing step; steps are events, delivered in handled_at order after the "
        "dossier exists",
        "Một bước xử lý; các bước được gửi theo thứ tự handled_at sau khi hồ sơ đã có",
    ),
    "result": M(
        "DongBoHoSoMC + CapNhatTienDoHoSoMC",
        "The outcome (status 9 or 10) of a dossier accepted before: an update of its last "
        "snapshot plus its closing step",
        "Kết quả (trạng thái 9 hoặc 10) của hồ sơ đã tiếp nhận: cập nhật bản hồ sơ mới nhất "
        "và thêm bước kết thúc",
    ),
}

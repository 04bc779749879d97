from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice


class EmailUserManager(UserManager):
    """Users are identified by email; there is no username."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("Users must have an email address.")
        email = self.normalize_email(email).lower()
        user = self.model(email=email, **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    username = None
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = EmailUserManager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.email


class UserSession(models.Model):
    """One signed-in browser session of a user, so they can see and end the others."""

    session_key = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tracked_sessions")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.user} from {self.ip or '?'}"


class SecondFactorThrottle(models.Model):
    """Per-account count of failed second-factor codes; its row lock serializes verification."""

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, primary_key=True, related_name="second_factor_throttle"
    )
    failure_count = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.failure_count} failure(s)"


class BackupCodeDevice(Device):
    """A django-otp device holding single-use backup codes, stored only as salted hashes."""

    class Meta:
        verbose_name = "backup code set"

    salt = models.CharField(max_length=32, blank=True)

    def verify_token(self, token) -> bool:
        from accounts.backup_codes import backup_code_consume

        return backup_code_consume(device=self, code=str(token))


class TOTPSecret(models.Model):
    """The seed of an authenticator app, sealed (exchanges/crypto.py envelope: AES-256-GCM under a
    data key wrapped by the newest master key, bound to the device row and its user).

    The device's own `key` column never holds the seed: it holds `accounts.totp_seeds.SEALED`,
    which is not hex, so the plain django-otp model cannot compute codes from a database dump or
    from the column (`bin_key` raises). `AuthenticatorDevice` reads the seed from here.
    """

    device = models.OneToOneField(
        TOTPDevice, on_delete=models.CASCADE, primary_key=True, related_name="sealed_seed"
    )
    sealed = models.TextField()

    def __str__(self) -> str:
        return f"sealed seed of device {self.device_id}"


class AuthenticatorDevice(TOTPDevice):
    """The TOTP device as Peregrine verifies it: its seed opened from `TOTPSecret` when needed
    (the plain model's `key` column holds only a marker)."""

    class Meta:
        proxy = True
        verbose_name = "authenticator app"

    @property
    def bin_key(self) -> bytes:
        from accounts.totp_seeds import seed_bytes

        return seed_bytes(self)


class BackupCode(models.Model):
    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=128)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"backup code of {self.device.user}"


class ApiToken(models.Model):
    """A named API token: only a SHA-256 hash of it is stored; read or trade scope."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        TRADE = "trade", "Read and trade"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    prefix = models.CharField(max_length=12, help_text="Public start of the token, for display.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=["read", "trade"]), name="api_token_scope_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def can_trade(self) -> bool:
        return self.scope == self.Scope.TRADE

    def is_usable(self, now) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class Verification(models.Model):
    """A user's KYC/AML verification, set by an operator (no document files are stored).

    Written only by accounts.services.verification, which audits every change.
    """

    class Status(models.TextChoices):
        UNVERIFIED = "unverified", "Unverified"
        PENDING = "pending", "Pending review"
        VERIFIED = "verified", "Verified"
        REJECTED = "rejected", "Rejected"

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, primary_key=True, related_name="verification"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UNVERIFIED)
    notes = models.TextField(blank=True, help_text="Operator notes; the user never sees them.")
    reviewed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["unverified", "pending", "verified", "rejected"]),
                name="verification_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.get_status_display()}"


class VerificationDocument(models.Model):
    """What an operator saw of one identity document: its metadata only, never the file."""

    class Kind(models.TextChoices):
        PASSPORT = "passport", "Passport"
        ID_CARD = "id_card", "National identity card"
        DRIVING_LICENCE = "driving_licence", "Driving licence"
        PROOF_OF_ADDRESS = "proof_of_address", "Proof of address"
        OTHER = "other", "Other"

    verification = models.ForeignKey(
        Verification, on_delete=models.CASCADE, related_name="documents"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    issuing_country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2.")
    number_last4 = models.CharField(
        max_length=4, blank=True, help_text="Last 4 characters of the document number only."
    )
    expires_on = models.DateField(null=True, blank=True)
    checked_on = models.DateField(null=True, blank=True)
    notes = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.issuing_country} …{self.number_last4}".strip()


class SitePolicy(models.Model):
    """Installation-wide switches an operator sets in the admin (one row, id 1)."""

    live_trading_requires_verification = models.BooleanField(
        default=False,
        help_text="Only users whose verification is 'verified' may start or resume live bots.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "site policy"
        verbose_name_plural = "site policy"

    def __str__(self) -> str:
        return "Site policy"
